import { toSandboxerError } from "../errors.js";
import { IN_FLIGHT_STATES, LIVE_STATES } from "../lifecycle.js";
import type { JsonObject, SandboxRow, SandboxState } from "../types.js";
import { HostSessions, registeredExtensions } from "./host-sessions.js";
import { teardownQuietly } from "./create.js";
import { finishDestroy, hostOf, profileOf } from "./destroy.js";
import { NO_OWNER, ownedBy, ownerAlive, sameOwner } from "./owner.js";
import { reconcileClaims } from "./pools-claim.js";
import { eventFor, extensionContext, nowIso, type Runtime, transition, extensionOf } from "./runtime.js";

export interface ReconcileAction {
  id: string;
  from: SandboxState;
  to: SandboxState;
  why: string;
}

export interface Orphan {
  sandboxId: string;
  kind: string;
  ref: string;
  detail?: JsonObject | undefined;
  host: string;
  extension: string;
}

export interface ReconcileReport {
  actions: ReconcileAction[];
  orphans: Orphan[];
  errors: { id: string; message: string }[];
}

/**
 * Take over a record whose owner process died: compare-and-set the owner columns,
 * so of two reconcilers racing only one proceeds.
 */
function claim(rt: Runtime, row: SandboxRow): Promise<SandboxRow | undefined> {
  return rt.store.tx(async (t) => {
    const cur = await t.sandboxes.getForUpdate(row.id);
    if (!cur || cur.state !== row.state || !sameOwner(cur, row)) return undefined;
    // Judged again under the lock: a heartbeat may have come in since the list was read.
    if (ownerAlive(rt.owner, cur)) return undefined;
    await t.sandboxes.update(row.id, { ...ownedBy(rt.owner), updatedAt: nowIso(rt) });
    return t.sandboxes.get(row.id);
  });
}

/** `row` is claimed (owned by us now); `was` is how it was found, with the owner that died. */
async function recover(rt: Runtime, row: SandboxRow, was: SandboxRow, report: ReconcileReport): Promise<void> {
  const ext = await extensionOf(rt, row.extension);
  const why = `owner process ${was.ownerPid ?? "?"}${was.ownerReplica && was.ownerReplica !== rt.owner.replica ? ` on replica ${was.ownerReplica}` : ""} died while ${row.state}`;
  if (row.state === "destroying") {
    await finishDestroy(rt, row, row.reason ?? "user");
    report.actions.push({ id: row.id, from: "destroying", to: "destroyed", why });
    return;
  }
  // requested / provisioning: we cannot know how far it got, so tear down whatever exists.
  const ctx = extensionContext(rt, row, await profileOf(rt, row), hostOf(rt, row), new AbortController().signal);
  const failure = await teardownQuietly(ext, ctx, row.handle);
  const message = `interrupted: ${why}${failure ? `; teardown failed: ${failure}` : ""}`;
  await transition(rt, row, [row.state], "failed", {
    error: { code: "SBX_CANCELLED", message },
    reason: "failed-provision",
    destroyedAt: failure ? null : nowIso(rt),
    ...NO_OWNER,
  });
  report.actions.push({ id: row.id, from: row.state, to: "failed", why });
}

/** A failed record whose teardown failed earlier still holds resources: try again. */
async function cleanFailed(rt: Runtime, row: SandboxRow, report: ReconcileReport): Promise<void> {
  const ext = await extensionOf(rt, row.extension);
  const ctx = extensionContext(rt, row, await profileOf(rt, row), hostOf(rt, row), new AbortController().signal);
  const failure = await teardownQuietly(ext, ctx, row.handle);
  if (failure) throw new Error(failure);
  await rt.store.tx(async (t) => {
    await t.sandboxes.update(row.id, { destroyedAt: nowIso(rt), ...NO_OWNER, updatedAt: nowIso(rt) });
    await t.events.append(eventFor(rt, "sandbox.cleaned", row, { why: "teardown of a failed provision completed" }));
  });
  report.actions.push({ id: row.id, from: "failed", to: "failed", why: "resources of a failed provision removed" });
}

/**
 * Make the store true again after crashes. `deep` also asks extensions whether
 * ready sandboxes still exist and lists backend resources with no live record
 * (slower: run by `sandboxer reconcile` and the reaper, not before every command).
 */
export async function reconcile(rt: Runtime, opts: { deep?: boolean } = {}): Promise<ReconcileReport> {
  const report: ReconcileReport = { actions: [], orphans: [], errors: [] };
  // One read for everything judged by its owner (before every create and destroy: keep it one round trip).
  const suspects = await rt.store.sandboxes.suspects();
  const records = suspects.filter((r) => IN_FLIGHT_STATES.includes(r.state) || r.state === "failed");
  for (const row of records) {
    if (ownerAlive(rt.owner, row)) continue;
    const mine = await claim(rt, row);
    if (!mine) continue;
    try {
      if (mine.state === "failed") await cleanFailed(rt, mine, report);
      else await recover(rt, mine, row, report);
    } catch (err) {
      await rt.store.sandboxes.update(mine.id, NO_OWNER);
      report.errors.push({ id: row.id, message: toSandboxerError(err).message });
    }
  }
  // Claims of warm pool members whose process died: back to the pool, or destroyed (src/broker/pools-claim.ts).
  await reconcileClaims(rt, report, suspects);
  if (opts.deep) await deepCheck(rt, report);
  return report;
}

async function deepCheck(rt: Runtime, report: ReconcileReport): Promise<void> {
  const live = await rt.store.sandboxes.list({ states: LIVE_STATES });
  const liveIds = new Set(live.map((r) => r.id));
  for (const row of live.filter((r) => r.state === "ready")) {
    const ext = await extensionOf(rt, row.extension);
    if (!ext.alive || !row.handle) continue;
    try {
      const ctx = extensionContext(rt, row, await profileOf(rt, row), hostOf(rt, row), new AbortController().signal);
      if (await ext.alive(ctx, row.handle)) continue;
      const claimed = await transition(
        rt,
        row,
        ["ready"],
        "destroying",
        { ...ownedBy(rt.owner), reason: "reap" },
        { reason: "reap", why: "resources vanished" },
      );
      if (!claimed) continue;
      await finishDestroy(rt, claimed, "reap", "its resources vanished outside sand-boxer; the record was closed by reconcile");
      report.actions.push({ id: row.id, from: "ready", to: "destroyed", why: "resources vanished" });
    } catch (err) {
      report.errors.push({ id: row.id, message: toSandboxerError(err).message });
    }
  }
  // Orphans wherever the extensions say their resources live: hosts, clusters, vendor accounts, VMs.
  // Unreachable places are skipped here (`inspect stale` reports them).
  const s = new HostSessions(rt.config().hosts, rt.paths, rt.env, await registeredExtensions(rt));
  try {
    for (const host of s.hosts()) {
      if (await s.probe(host)) continue;
      for (const res of (await s.list(host, { remote: true })).found) {
        if (!liveIds.has(res.sandboxId))
          report.orphans.push({ sandboxId: res.sandboxId, kind: res.kind, ref: res.ref, detail: res.detail, host: host.name, extension: res.extension });
      }
    }
  } finally {
    await s.close();
  }
}
