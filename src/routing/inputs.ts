import type { Profile } from "../catalog/schema.js";
import { availableByAccount } from "../credits/ledger.js";
import { KNOWN_EXTENSIONS, loadExtension } from "../extensions/index.js";
import { LIVE_STATES } from "../lifecycle.js";
import type { SqliteStore } from "../store/sqlite.js";
import type { Clock, Host } from "../types.js";
import type { CandidateInfo, ReadyStats, RoutingInputs } from "./types.js";

/** How many recent ready records per extension and host feed the p50. */
export const STATS_WINDOW = 50;
/** A host whose latest create failed unreachable within this window is treated as down. */
export const DOWN_WINDOW_MS = 120_000;

export function median(sorted: number[]): number {
  const n = sorted.length;
  if (!n) return 0;
  const mid = n >> 1;
  return n % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/**
 * Read what routing needs from the store: live counts per extension and host
 * (one GROUP BY over the state index), the p50 time-to-ready of the last
 * STATS_WINDOW records per candidate and host (index range scans on
 * sandboxes_ready_stats), recently unreachable hosts, and credit balances.
 */
type Statement = { all(...params: unknown[]): unknown[] };
const SQL = {
  live: `SELECT extension, host, COUNT(*) AS n FROM sandboxes WHERE state IN (${LIVE_STATES.map(() => "?").join(", ")}) GROUP BY extension, host`,
  recent:
    "SELECT (julianday(ready_at) - julianday(created_at)) * 86400.0 AS s FROM sandboxes WHERE extension = ? AND host = ? AND ready_at IS NOT NULL ORDER BY created_at DESC LIMIT ?",
  health:
    "SELECT host, MAX(CASE WHEN state = 'failed' AND json_extract(error, '$.code') = 'SBX_HOST_UNREACHABLE' THEN created_at END) AS down, MAX(CASE WHEN ready_at IS NOT NULL THEN created_at END) AS up FROM sandboxes WHERE created_at >= ? GROUP BY host",
};
/** Prepared once per database: preparing costs more than running these small reads. */
const prepared = new WeakMap<SqliteStore["db"], Record<keyof typeof SQL, Statement>>();
function statements(store: SqliteStore): Record<keyof typeof SQL, Statement> {
  let s = prepared.get(store.db);
  if (!s) {
    s = { live: store.db.prepare(SQL.live), recent: store.db.prepare(SQL.recent), health: store.db.prepare(SQL.health) };
    prepared.set(store.db, s);
  }
  return s;
}

export function readRoutingStats(store: SqliteStore, clock: Clock, pairs: readonly (readonly [string, string])[], metered: ReadonlySet<string>) {
  const liveByExtension = new Map<string, number>();
  const liveByHost = new Map<string, number>();
  const sql = statements(store);
  const live = sql.live.all(...LIVE_STATES) as { extension: string; host: string; n: number }[];
  for (const r of live) {
    liveByExtension.set(r.extension, (liveByExtension.get(r.extension) ?? 0) + r.n);
    if (!metered.has(r.extension)) liveByHost.set(r.host, (liveByHost.get(r.host) ?? 0) + r.n);
  }
  const readyStats = new Map<string, ReadyStats>();
  for (const [ext, host] of pairs) {
    const xs = (sql.recent.all(ext, host, STATS_WINDOW) as { s: number }[]).map((r) => r.s).sort((a, b) => a - b);
    if (xs.length) readyStats.set(`${ext}@${host}`, { p50Seconds: median(xs), samples: xs.length });
  }
  const since = new Date(clock.now().getTime() - DOWN_WINDOW_MS).toISOString();
  const downHosts = new Map<string, string>();
  const health = sql.health.all(since) as { host: string; down: string | null; up: string | null }[];
  for (const h of health) if (h.down && (!h.up || h.up < h.down)) downHosts.set(h.host, `unreachable at ${h.down}`);
  return { liveByExtension, liveByHost, readyStats, downHosts, creditsAvailable: availableByAccount(store) };
}

/** Kinds and capabilities are code, fixed for the life of the process: look them up once. */
const infoCache = new Map<string, CandidateInfo | null>();
let meteredCache: Set<string> | undefined;

async function candidateInfo(id: string): Promise<CandidateInfo | null> {
  if (infoCache.has(id)) return infoCache.get(id) ?? null;
  const ext = await loadExtension(id).catch(() => undefined);
  // Unknown extensions are rejected by decideRoute with their own reason.
  const info = ext ? { kind: ext.kind, capabilities: ext.capabilities as unknown as Record<string, boolean> } : null;
  infoCache.set(id, info);
  return info;
}

/** Load each candidate's kind and capabilities (cached) and read the store. */
export async function gatherRoutingInputs(store: SqliteStore, clock: Clock, profile: Profile, hosts: ReadonlyMap<string, Host>): Promise<RoutingInputs> {
  const ids = profile.extension ? [profile.extension] : (profile.route?.candidates ?? []);
  const extensions = new Map<string, CandidateInfo>();
  for (const id of ids) {
    const info = await candidateInfo(id);
    if (info) extensions.set(id, info);
  }
  // Host load counts every self-hosted sandbox on the host, not only this profile's candidates.
  if (!meteredCache) {
    const metered = new Set<string>();
    for (const id of KNOWN_EXTENSIONS) if ((await candidateInfo(id))?.kind === "metered") metered.add(id);
    meteredCache = metered;
  }
  const hostNames = profile.placement.hosts.includes("*") ? [...hosts.keys()] : profile.placement.hosts;
  const pairs = ids.flatMap((id) => hostNames.map((h) => [id, h] as const));
  return { extensions, hosts, ...readRoutingStats(store, clock, pairs, meteredCache) };
}

/** The routing inputs for the profile a request resolves to (undefined when it does not resolve: planCreate reports that). */
export async function routingInputsFor(
  store: SqliteStore,
  clock: Clock,
  profiles: ReadonlyMap<string, Profile>,
  hosts: ReadonlyMap<string, Host>,
  profileId: string,
): Promise<RoutingInputs | undefined> {
  const profile = profiles.get(profileId);
  return profile ? gatherRoutingInputs(store, clock, profile, hosts) : undefined;
}
