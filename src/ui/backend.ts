/**
 * What the dashboard reads beyond records and events, each through one broker
 * method with the caller's scope applied here (as the API route does).
 */
import type { Account, Broker, LedgerEntry, PoolStatus, ReadyStats, ReapResult, StaleReport } from "../broker.js";
import type { Principal } from "../api/tokens.js";
import { accountFor, POOL_ACCOUNT } from "../credits/index.js";
import type { Sandbox } from "../types.js";

/** GET /v1/credits: the caller's project; adm every account. */
export function accountsFor(broker: Broker, p: Principal): Promise<Account[]> {
  return broker.credits(p.actor === "adm" ? {} : { account: accountFor(p.project) });
}

/** GET /v1/credits/history and `credits export`: ledger entries, oldest first. */
export function ledgerFor(
  broker: Broker,
  p: Principal,
  o: { since?: string | undefined; limit?: number | undefined; account?: string | undefined },
): Promise<LedgerEntry[]> {
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

/** A warm pool as the pools page shows it: its status and the credits its idle members have used. */
export interface PoolRow extends PoolStatus {
  /** Debits on the pool account for this pool's members while they idled (settled at claim or at their destroy). */
  idleSpent: number;
}

export interface PoolsView {
  pools: PoolRow[];
  /** The operator's pool account (`_pool`): what idle metered members draw on. */
  account: Account | undefined;
  /** Pool account debits that name no pool (made before debits carried one). */
  unattributed: number;
}

/** `pools list` plus the pool account's ledger, summed per pool; operators only (the caller checks). */
export async function poolsView(broker: Broker): Promise<PoolsView> {
  const [pools, accounts, ledger] = await Promise.all([
    broker.pools(),
    broker.credits({ account: POOL_ACCOUNT }),
    broker.creditHistory({ account: POOL_ACCOUNT }),
  ]);
  const spent = new Map<string, number>();
  let unattributed = 0;
  for (const e of ledger) {
    if (e.kind !== "debit") continue;
    const key = typeof e.data.pool === "string" ? e.data.pool : undefined;
    if (key === undefined) unattributed += e.amount;
    else spent.set(key, (spent.get(key) ?? 0) + e.amount);
  }
  // Sums of 6-decimal amounts: rounded back to micro-credits, no float noise.
  const round = (n: number) => Math.round(n * 1e6) / 1e6;
  return {
    pools: pools.map((p) => ({ ...p, idleSpent: round(spent.get(p.key) ?? 0) })),
    account: accounts[0]?.updatedAt ? accounts[0] : undefined,
    unattributed: round(unattributed),
  };
}
