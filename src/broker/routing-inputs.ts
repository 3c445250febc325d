import type { Profile } from "../catalog/schema.js";
import { KNOWN_EXTENSIONS, loadExtension } from "../extensions/index.js";
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
export async function readRoutingStats(db: Repos, clock: Clock, pairs: readonly (readonly [string, string])[], metered: ReadonlySet<string>) {
  const load = liveLoad(await db.sandboxes.liveCounts(), metered);
  const readyStats = new Map<string, ReadyStats>();
  for (const [ext, host] of pairs) {
    const stats = readyStatsOf(await db.sandboxes.recentReadySeconds(ext, host, STATS_WINDOW));
    if (stats) readyStats.set(`${ext}@${host}`, stats);
  }
  const since = new Date(clock.now().getTime() - DOWN_WINDOW_MS).toISOString();
  const downHosts = downHostsOf(await db.sandboxes.hostHealth(since));
  return { ...load, readyStats, downHosts, creditsAvailable: await db.credits.available() };
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
export async function gatherRoutingInputs(db: Repos, clock: Clock, profile: Profile, hosts: ReadonlyMap<string, Host>): Promise<RoutingInputs> {
  const ids = profile.extension ? [profile.extension] : (profile.route?.candidates ?? []);
  const extensions = new Map<string, CandidateInfo>();
  for (const id of ids) {
    const info = await candidateInfo(id);
    if (info) extensions.set(id, info);
  }
  // Host load counts every sandbox that runs on the host, not only this profile's candidates:
  // metered ones and those that only nominally sit there (VM workspaces, image builds) do not.
  if (!meteredCache) {
    const offHost = new Set<string>();
    for (const id of KNOWN_EXTENSIONS) {
      const ext = await loadExtension(id).catch(() => undefined);
      if (ext && (ext.kind === "metered" || ext.offHost)) offHost.add(id);
    }
    meteredCache = offHost;
  }
  const hostNames = profile.placement.hosts.includes("*") ? [...hosts.keys()] : profile.placement.hosts;
  const pairs = ids.flatMap((id) => hostNames.map((h) => [id, h] as const));
  return { extensions, hosts, ...(await readRoutingStats(db, clock, pairs, meteredCache)) };
}

/** The routing inputs for the profile a request resolves to (undefined when it does not resolve: planCreate reports that). */
export async function routingInputsFor(
  db: Repos,
  clock: Clock,
  profiles: ReadonlyMap<string, Profile>,
  hosts: ReadonlyMap<string, Host>,
  profileId: string,
): Promise<RoutingInputs | undefined> {
  const profile = profiles.get(profileId);
  return profile ? gatherRoutingInputs(db, clock, profile, hosts) : undefined;
}
