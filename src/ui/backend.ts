/**
 * What the dashboard reads that the broker does not offer as a method yet.
 * Each function calls exactly what the API route or CLI command does today,
 * and is the one place to move onto a broker method when the async broker
 * lands (listed in docs/ui.md under "Where the dashboard goes around the broker").
 */
import { existsSync, openSync, readSync, closeSync, fstatSync } from "node:fs";
import { join } from "node:path";
import type { Broker } from "../broker.js";
import type { Env } from "../config.js";
import { accountFor, getAccount, history, listAccounts } from "../credits/index.js";
import type { Account, LedgerEntry } from "../credits/ledger.js";
import { readRoutingStats } from "../routing/inputs.js";
import type { ReadyStats } from "../routing/types.js";
import { HostSessions } from "../telemetry/hosts.js";
import { findStale, type ReapResult, reapStale, type StaleReport } from "../telemetry/stale.js";
import type { Principal } from "../api/tokens.js";
import type { Sandbox } from "../types.js";

/** GET /v1/credits: the caller's project; adm every account. */
export async function accountsFor(broker: Broker, p: Principal): Promise<Account[]> {
  return p.actor === "adm" ? listAccounts(broker.store) : [getAccount(broker.store, accountFor(p.project))];
}

/** GET /v1/credits/history and `credits export`: ledger entries, oldest first. */
export async function ledgerFor(broker: Broker, p: Principal, o: { since?: string | undefined; limit?: number | undefined; account?: string | undefined }): Promise<LedgerEntry[]> {
  const account = p.actor === "adm" ? o.account : accountFor(p.project);
  return history(broker.store, { account, since: o.since, limit: o.limit });
}

/** Routing's measured time to ready (p50 of recent records) per extension@host. */
export async function readyStats(broker: Broker, pairs: [string, string][]): Promise<ReadonlyMap<string, ReadyStats>> {
  return readRoutingStats(broker.store, broker.clock, pairs, new Set()).readyStats;
}

/** `inspect stale` / `reap-stale`: probes every host over its transport; operators only (the caller checks). */
export async function staleReport(broker: Broker, env: Env): Promise<StaleReport> {
  const sessions = new HostSessions(broker, env);
  try {
    return await findStale(broker, sessions);
  } finally {
    await sessions.close();
  }
}

export async function reapStaleNow(broker: Broker, env: Env): Promise<StaleReport & ReapResult> {
  const sessions = new HostSessions(broker, env);
  try {
    const report = await findStale(broker, sessions);
    return { ...report, ...(await reapStale(broker, sessions, report)) };
  } finally {
    await sessions.close();
  }
}

/**
 * The last `maxBytes` of a Packer build's log (docs/migration-build-machines.md:
 * `$SANDBOXER_HOME/logs/vm-packer/<id>.log`): the record names it once ready;
 * while the build runs it is found by id. Operators only (the caller checks).
 */
export function buildLogTail(broker: Broker, sb: Sandbox, maxBytes = 8192): string | null {
  const named = sb.reachability?.log;
  const file = typeof named === "string" ? named : join(broker.paths.home, "logs", "vm-packer", `${sb.id}.log`);
  if (!existsSync(file)) return null;
  const fd = openSync(file, "r");
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, maxBytes);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    const text = buf.toString("utf8");
    // Start at a whole line when the tail was cut.
    return len < size ? text.slice(text.indexOf("\n") + 1) : text;
  } finally {
    closeSync(fd);
  }
}
