import { finishDestroy, getRow, profileOf } from "../broker/destroy.js";
import { eventFor, nowIso, type Runtime, transition } from "../broker/runtime.js";
import { parseDuration } from "../duration.js";
import { toSandboxerError } from "../errors.js";
import { publicRecord } from "../store/rows.js";
import type { Sandbox, SandboxRow } from "../types.js";
import { followTtl, holdForExtension } from "../credits/ttl.js";
import { decideExtend, isExpired } from "./policy.js";

export interface ExpireReport {
  /** Expired at the time of the call (all of them, applied or not). */
  expired: Sandbox[];
  /** Destroyed by this call, reason `ttl`. */
  destroyed: string[];
  /** Claimed first by someone else (another reaper, a user destroy): not ours to count. */
  skipped: string[];
  errors: { id: string; message: string }[];
}

export interface RetryReport {
  destroyed: string[];
  skipped: string[];
  errors: { id: string; message: string }[];
}

/** Apply an extension decided by `decideExtend`, re-reading the row inside the write lock. */
export async function extendTtl(rt: Runtime, id: string, duration: string): Promise<Sandbox> {
  const add = parseDuration(duration, "duration");
  const profile = await profileOf(rt, getRow(rt, id));
  const max = parseDuration(profile.ttl.max, "profile ttl.max");
  const done = rt.store.write(() => {
    const row = getRow(rt, id);
    const d = decideExtend(row, add, max, rt.clock.now());
    // Metered: the reservation grows with the TTL, refused like a create (src/credits/ttl.ts).
    holdForExtension(rt, row, d.ttlSeconds);
    rt.store.patchRow(id, { expiresAt: d.expiresAt, ttlSeconds: d.ttlSeconds, updatedAt: nowIso(rt) });
    rt.store.appendEvent(eventFor(rt, "sandbox.ttl_extended", row, { from: row.expiresAt, to: d.expiresAt, addedSeconds: add, ttlSeconds: d.ttlSeconds }));
    return getRow(rt, id);
  });
  await followTtl(rt, done);
  return publicRecord(done);
}

export function listExpired(rt: Runtime): SandboxRow[] {
  const now = rt.clock.now();
  return rt.store.listSandboxes({ states: ["ready"], expiredBefore: now.toISOString() }).filter((r) => isExpired(r, now));
}

/**
 * Claim one expired sandbox (compare-and-set ready -> destroying, with the
 * `sandbox.expired` event in the same transaction) and tear it down. Of two
 * reapers racing, exactly one wins the claim; the other reports it skipped.
 */
async function expireOne(rt: Runtime, row: SandboxRow): Promise<"destroyed" | "skipped"> {
  const claimed = rt.store.write(() => {
    const c = transition(rt, row, ["ready"], "destroying", { ownerPid: rt.owner.pid, ownerStart: rt.owner.start, reason: "ttl" }, { reason: "ttl" });
    if (c) rt.store.appendEvent(eventFor(rt, "sandbox.expired", row, { expiresAt: row.expiresAt, ttlSeconds: row.ttlSeconds }));
    return c;
  });
  if (!claimed) return "skipped";
  await finishDestroy(rt, claimed, "ttl");
  return "destroyed";
}

/** Run `work` over `items` with at most `limit` in flight (teardowns are mostly waiting). */
async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
}

export async function expire(rt: Runtime, opts: { apply?: boolean; concurrency?: number; beforeEach?: () => void } = {}): Promise<ExpireReport> {
  const rows = listExpired(rt);
  const report: ExpireReport = { expired: rows.map(publicRecord), destroyed: [], skipped: [], errors: [] };
  if (!opts.apply) return report;
  await pool(rows, opts.concurrency ?? 4, async (row) => {
    try {
      opts.beforeEach?.();
      const outcome = await expireOne(rt, row);
      (outcome === "destroyed" ? report.destroyed : report.skipped).push(row.id);
    } catch (err) {
      report.errors.push({ id: row.id, message: toSandboxerError(err).message });
    }
  });
  return report;
}

/** destroy_failed records still hold resources: claim each and try the teardown again, keeping its reason. */
export async function retryDestroyFailed(rt: Runtime, opts: { concurrency?: number; beforeEach?: () => void } = {}): Promise<RetryReport> {
  const rows = rt.store.listSandboxes({ states: ["destroy_failed"] });
  const report: RetryReport = { destroyed: [], skipped: [], errors: [] };
  await pool(rows, opts.concurrency ?? 4, async (row) => {
    try {
      opts.beforeEach?.();
      const reason = row.reason ?? "reap";
      const claimed = transition(rt, row, ["destroy_failed"], "destroying", { ownerPid: rt.owner.pid, ownerStart: rt.owner.start, reason }, { reason, retry: true });
      if (!claimed) {
        report.skipped.push(row.id);
        return;
      }
      await finishDestroy(rt, claimed, reason);
      report.destroyed.push(row.id);
    } catch (err) {
      report.errors.push({ id: row.id, message: toSandboxerError(err).message });
    }
  });
  return report;
}
