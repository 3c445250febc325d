import type { Profile } from "../catalog/schema.js";
import { BUILTIN_EXTENSIONS, loadExtension, type ModuleRef } from "../extensions/index.js";
import { DOWN_WINDOW_MS, downHostsOf, liveLoad, readyStatsOf, STATS_WINDOW } from "../routing/inputs.js";
import type { CandidateInfo, ReadyStats, RoutingInputs } from "../routing/types.js";
import type { Repos } from "../store/types.js";
import type { Clock, Host } from "../types.js";

/**
 * Read what routing needs from the store: live counts per extension and host
 * (one GROUP BY over the state index), the p50 time-to-ready of the last
 * STATS_WINDOW records per candidate and host (index range scans on
 * sandboxes_ready_stats), recently unreachable hosts, and credit balances.
 */
export async function readRoutingStats(
  db: Repos,
  clock: Clock,
  pairs: readonly (readonly [string, string])[],
  metered: ReadonlySet<string>,
  opts: { credits?: boolean } = {},
) {
  const since = new Date(clock.now().getTime() - DOWN_WINDOW_MS).toISOString();
  // Independent reads, asked at once: on a networked store (Postgres) they overlap instead of queueing round trips.
  // Balances only when a candidate has a price (routing checks credits for those alone).
  const [live, ready, health, creditsAvailable] = await Promise.all([
    db.sandboxes.liveCounts(),
    Promise.all(pairs.map(([ext, host]) => db.sandboxes.recentReadySeconds(ext, host, STATS_WINDOW))),
    db.sandboxes.hostHealth(since),
    opts.credits === false ? new Map<string, number>() : db.credits.available(),
  ]);
  const readyStats = new Map<string, ReadyStats>();
  pairs.forEach(([ext, host], i) => {
    const stats = readyStatsOf(ready[i] ?? []);
    if (stats) readyStats.set(`${ext}@${host}`, stats);
  });
  return { ...liveLoad(live, metered), readyStats, downHosts: downHostsOf(health), creditsAvailable };
}

/** Kinds and capabilities are code, fixed for the life of the process: look them up once. */
type Info = CandidateInfo & { offHost?: boolean };
/** A registration as routing sees it: where its module is, and its price (metered ones need the credit balances). */
type Reg = ModuleRef & { pricePerHour?: number };
const infoCache = new Map<string, Info | null>();

async function candidateInfo(id: string, registrations: ReadonlyMap<string, Reg>): Promise<Info | null> {
  const reg = registrations.get(id);
  const key = `${id}\0${reg?.module ?? ""}\0${reg?.module ? reg.file : ""}`;
  if (infoCache.has(key)) return infoCache.get(key) ?? null;
  const ext = await loadExtension(id, reg).catch(() => undefined);
  // Unknown extensions are rejected by decideRoute with their own reason.
  const info: Info | null = ext ? { kind: ext.kind, capabilities: { ...ext.capabilities }, ...(ext.offHost ? { offHost: true } : {}) } : null;
  infoCache.set(key, info);
  return info;
}

/** Load each candidate's kind and capabilities (cached) and read the store. `registrations` finds extensions from modules. */
export async function gatherRoutingInputs(
  db: Repos,
  clock: Clock,
  profile: Profile,
  hosts: ReadonlyMap<string, Host>,
  registrations: ReadonlyMap<string, Reg> = new Map(),
): Promise<RoutingInputs> {
  const ids = profile.extension ? [profile.extension] : (profile.route?.candidates ?? []);
  const extensions = new Map<string, CandidateInfo>();
  for (const id of ids) {
    const info = await candidateInfo(id, registrations);
    if (info) extensions.set(id, info);
  }
  // Host load counts every sandbox that runs on the host, not only this profile's candidates:
  // metered ones and those that only nominally sit there (VM workspaces, image builds) do not.
  const offHost = new Set<string>();
  for (const id of new Set([...BUILTIN_EXTENSIONS, ...registrations.keys()])) {
    const info = await candidateInfo(id, registrations);
    if (info && (info.kind === "metered" || info.offHost)) offHost.add(id);
  }
  const hostNames = profile.placement.hosts.includes("*") ? [...hosts.keys()] : profile.placement.hosts;
  const pairs = ids.flatMap((id) => hostNames.map((h) => [id, h] as const));
  const priced = ids.some((id) => (registrations.get(id)?.pricePerHour ?? 0) > 0);
  return { extensions, hosts, ...(await readRoutingStats(db, clock, pairs, offHost, { credits: priced })) };
}

/** The routing inputs for the profile a request resolves to (undefined when it does not resolve: planCreate reports that). */
export async function routingInputsFor(
  db: Repos,
  clock: Clock,
  profiles: ReadonlyMap<string, Profile>,
  hosts: ReadonlyMap<string, Host>,
  profileId: string,
  registrations: ReadonlyMap<string, Reg> = new Map(),
): Promise<RoutingInputs | undefined> {
  const profile = profiles.get(profileId);
  return profile ? gatherRoutingInputs(db, clock, profile, hosts, registrations) : undefined;
}
