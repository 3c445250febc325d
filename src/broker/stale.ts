/**
 * `inspect stale` and `reap-stale`: compare what exists on the hosts with the
 * live records, then remove orphans and close ghost records.
 */
import { toSandboxerError } from "../errors.js";
import { LIVE_STATES } from "../lifecycle.js";
import type { HostSessions } from "./host-sessions.js";
import type { Host, Sandbox } from "../types.js";
import { applyDestroy } from "./destroy.js";
import { type ReconcileReport, reconcile } from "./reconcile.js";
import { extensionOf, type Runtime } from "./runtime.js";

export interface Orphan {
  host: string;
  extension: string;
  sandboxId: string;
  kind: string;
  ref: string;
  /** State of the record, if one survives (destroyed / failed), else null (record lost). */
  record: string | null;
}

export interface Ghost {
  id: string;
  host: string;
  extension: string;
  state: string;
  why: string;
}

export interface StaleReport {
  hosts: { name: string; reachable: boolean; error: string | null }[];
  /** Resources on hosts (or in vendor accounts, on VMs) with no live record. */
  orphans: Orphan[];
  /** Live records whose resources are gone from their host. */
  ghosts: Ghost[];
  /** Places an extension could not list (its host answered; its own list failed): nothing there was judged. */
  unlisted?: { host: string; extension: string; message: string }[];
}

/**
 * Compare what exists on every reachable host, and in every remote place the
 * extensions declare (listed from localhost), with the live records. Changes nothing.
 */
export async function findStale(rt: Runtime, s: HostSessions, only?: string): Promise<StaleReport> {
  const report: StaleReport = { hosts: [], orphans: [], ghosts: [] };
  const live = await rt.store.sandboxes.list({ states: LIVE_STATES });
  const liveIds = new Set(live.map((r) => r.id));
  for (const host of s.hosts(only)) {
    const down = await s.probe(host);
    report.hosts.push({ name: host.name, reachable: !down, error: down });
    if (down) continue;
    const listing = await s.list(host, { remote: true });
    // A host not probed first (a cluster: no shell) is unreachable when its extension's list cannot connect.
    const lost = listing.errors.find((e) => e.where === "host" && e.error.code === "SBX_HOST_UNREACHABLE");
    if (lost) report.hosts[report.hosts.length - 1] = { name: host.name, reachable: false, error: lost.error.message };
    const unlisted = listing.errors.filter((e) => e !== lost).map((e) => ({ host: host.name, extension: e.extension, message: e.error.message }));
    if (unlisted.length) report.unlisted = [...(report.unlisted ?? []), ...unlisted];
    for (const r of listing.found) {
      if (liveIds.has(r.sandboxId)) continue;
      report.orphans.push({
        host: host.name,
        extension: r.extension,
        sandboxId: r.sandboxId,
        kind: r.kind,
        ref: r.ref,
        record: (await rt.store.sandboxes.get(r.sandboxId))?.state ?? null,
      });
    }
    const present = new Set(listing.found.map((r) => `${r.extension}\0${r.sandboxId}`));
    for (const row of live) {
      if (row.host !== host.name || !["ready", "destroy_failed"].includes(row.state)) continue;
      if (!listing.listed.has(row.extension)) continue;
      if (!present.has(`${row.extension}\0${row.id}`))
        report.ghosts.push({
          id: row.id,
          host: host.name,
          extension: row.extension,
          state: row.state,
          why: "no container, workspace, object or process carries its id",
        });
    }
  }
  return report;
}

export interface ReapResult {
  removed: { host: string; sandboxId: string; extension: string }[];
  closed: { id: string; state: string }[];
  errors: { ref: string; message: string }[];
}

/** Remove orphans (the extension's idempotent teardown, by id) and close ghost records (reason `reap`). */
export async function reapStale(rt: Runtime, s: HostSessions, report: StaleReport): Promise<ReapResult> {
  const out: ReapResult = { removed: [], closed: [], errors: [] };
  const done = new Set<string>();
  for (const o of report.orphans) {
    const key = `${o.host}/${o.extension}/${o.sandboxId}`;
    if (done.has(key)) continue;
    done.add(key);
    try {
      const host = s.hosts(o.host)[0] as Host;
      const ext = await extensionOf(rt, o.extension);
      const row = await rt.store.sandboxes.get(o.sandboxId);
      const sandbox = (row ?? { id: o.sandboxId, host: o.host, extension: o.extension, inputs: {} }) as Sandbox;
      await ext.teardown(s.context(host, sandbox, o.extension), null);
      out.removed.push({ host: o.host, sandboxId: o.sandboxId, extension: o.extension });
    } catch (err) {
      out.errors.push({ ref: key, message: toSandboxerError(err).message });
    }
  }
  if (report.ghosts.length) {
    // Deep reconcile closes ready records whose resources vanished (reason `reap`); destroy_failed ones are retried.
    const rec: ReconcileReport = await reconcile(rt, { deep: true });
    for (const a of rec.actions) out.closed.push({ id: a.id, state: a.to });
    for (const g of report.ghosts.filter((x) => x.state === "destroy_failed")) {
      try {
        await reconcile(rt);
        const r = await applyDestroy(rt, g.id, "user");
        out.closed.push({ id: g.id, state: r.state });
      } catch (err) {
        out.errors.push({ ref: g.id, message: toSandboxerError(err).message });
      }
    }
    for (const e of rec.errors) out.errors.push({ ref: e.id, message: e.message });
  }
  return out;
}
