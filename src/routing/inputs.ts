import type { ReadyStats } from "./types.js";

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

/** Live counts per extension, and per host for self-hosted extensions only (what `maxSandboxes` caps). */
export function liveLoad(live: readonly { extension: string; host: string; n: number }[], metered: ReadonlySet<string>) {
  const liveByExtension = new Map<string, number>();
  const liveByHost = new Map<string, number>();
  for (const r of live) {
    liveByExtension.set(r.extension, (liveByExtension.get(r.extension) ?? 0) + r.n);
    if (!metered.has(r.extension)) liveByHost.set(r.host, (liveByHost.get(r.host) ?? 0) + r.n);
  }
  return { liveByExtension, liveByHost };
}

/** p50 of recent time-to-ready samples (seconds), or undefined without samples. */
export function readyStatsOf(samples: readonly number[]): ReadyStats | undefined {
  if (!samples.length) return undefined;
  return { p50Seconds: median([...samples].sort((a, b) => a - b)), samples: samples.length };
}

/** Hosts whose latest create within the window failed unreachable, and none became ready since. */
export function downHostsOf(health: readonly { host: string; down: string | null; up: string | null }[]): Map<string, string> {
  const down = new Map<string, string>();
  for (const h of health) if (h.down && (!h.up || h.up < h.down)) down.set(h.host, `unreachable at ${h.down}`);
  return down;
}
