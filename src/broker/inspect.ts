/** Host inspection and stale detection, each with one transport per host for the whole call. */
import { LIVE_STATES } from "../lifecycle.js";
import { HostSessions, registeredExtensions } from "./host-sessions.js";
import { type HostReport, inspectHost, liveByHost } from "./host-report.js";
import type { Runtime } from "./runtime.js";
import { findStale, type ReapResult, reapStale, type StaleReport } from "./stale.js";

async function withSessions<T>(rt: Runtime, fn: (s: HostSessions) => Promise<T>): Promise<T> {
  const sessions = new HostSessions(rt.config().hosts, rt.paths, rt.env, await registeredExtensions(rt));
  try {
    return await fn(sessions);
  } finally {
    await sessions.close();
  }
}

/** `inspect host [NAME]`: facts and sandboxes of every inventory host, or of one. */
export function inspectHosts(rt: Runtime, name?: string): Promise<HostReport[]> {
  return withSessions(rt, async (s) => {
    const hosts = s.hosts(name);
    const live = liveByHost(await rt.store.sandboxes.list({ states: LIVE_STATES }));
    const reports: HostReport[] = [];
    for (const h of hosts) reports.push(await inspectHost(s, h, live.get(h.name) ?? []));
    return reports;
  });
}

export function inspectStale(rt: Runtime, host?: string): Promise<StaleReport> {
  return withSessions(rt, (s) => findStale(rt, s, host));
}

/** `reap-stale --apply`: find, then remove orphans and close ghosts, on the same connections. */
export function reapStaleNow(rt: Runtime, host?: string): Promise<StaleReport & ReapResult> {
  return withSessions(rt, async (s) => {
    const report = await findStale(rt, s, host);
    return { ...report, ...(await reapStale(rt, s, report)) };
  });
}
