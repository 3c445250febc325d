/**
 * What the dashboard reads beyond records and events, each through one broker
 * method with the caller's scope applied here (as the API route does).
 */
import type { Account, Broker, LedgerEntry, ReadyStats, ReapResult, StaleReport } from "../broker.js";
import type { Principal } from "../api/tokens.js";
import { accountFor } from "../credits/index.js";
import type { Sandbox } from "../types.js";

/** GET /v1/credits: the caller's project; adm every account. */
export function accountsFor(broker: Broker, p: Principal): Promise<Account[]> {
  return broker.credits(p.actor === "adm" ? {} : { account: accountFor(p.project) });
}

/** GET /v1/credits/history and `credits export`: ledger entries, oldest first. */
export function ledgerFor(broker: Broker, p: Principal, o: { since?: string | undefined; limit?: number | undefined; account?: string | undefined }): Promise<LedgerEntry[]> {
  const account = p.actor === "adm" ? o.account : accountFor(p.project);
  return broker.creditHistory({ account, since: o.since, limit: o.limit });
}

/** Routing's measured time to ready (p50 of recent records) per extension@host. */
export function readyStats(broker: Broker, pairs: [string, string][]): Promise<ReadonlyMap<string, ReadyStats>> {
  return broker.readyStats(pairs);
}

/** `inspect stale` / `reap-stale`: probes every host over its transport; operators only (the caller checks). */
export function staleReport(broker: Broker): Promise<StaleReport> {
  return broker.inspectStale();
}

export function reapStaleNow(broker: Broker): Promise<StaleReport & ReapResult> {
  return broker.reapStale();
}

/** The last bytes of a Packer build's log; operators only (the caller checks). */
export function buildLogTail(broker: Broker, sb: Sandbox, maxBytes = 8192): Promise<string | null> {
  return broker.logTail(sb.id, maxBytes);
}
