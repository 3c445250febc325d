/**
 * TTL as the broker applies it (the decisions are src/ttl/policy.ts):
 * extend-ttl (the credit hold grows with it; a SaaS backend's own timeout
 * follows), expiry (claim, `sandbox.expired`, destroy with reason `ttl`), and
 * retries of destroy_failed records.
 */
import { parseDuration } from "../duration.js";
import { SandboxerError, toSandboxerError } from "../errors.js";
import { publicRecord } from "../store/rows.js";
import { registrationMaxTtl } from "../routing/index.js";
import { decideExtend, isExpired } from "../ttl/policy.js";
import type { Sandbox, SandboxRow } from "../types.js";
import { holdForExtension } from "./credits.js";
import { finishDestroy, getRow, hostOf, profileOf } from "./destroy.js";
import { ownedBy } from "./owner.js";
import { eventFor, extensionContext, nowIso, type Runtime, transition, extensionOf } from "./runtime.js";

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
  const current = await getRow(rt, id);
  const profile = await profileOf(rt, current);
  // The lifetime is bounded by the profile's ttl.max and by the extension registration's limits.maxTtl, whichever is lower.
  const profileMax = parseDuration(profile.ttl.max, "profile ttl.max");
  const reg = (await rt.catalog()).registrations.get(current.extension);
  const regMax = reg ? registrationMaxTtl(reg) : null;
  const max = Math.min(profileMax, regMax ?? profileMax);
  const maxOf = regMax !== null && regMax < profileMax ? `${current.extension} (limits.maxTtl)` : current.profile;
  const done = await rt.store.tx(async (t) => {
    const row = await t.sandboxes.getForUpdate(id);
    if (!row) throw new SandboxerError("SBX_NOT_FOUND", `no sandbox '${id.slice(0, 64)}'`, { details: { id } });
    const d = decideExtend(row, add, max, rt.clock.now(), maxOf);
    // Metered: the reservation grows with the TTL, refused like a create.
    await holdForExtension(rt, t, row, d.ttlSeconds);
    await t.sandboxes.update(id, { expiresAt: d.expiresAt, ttlSeconds: d.ttlSeconds, updatedAt: nowIso(rt) });
    await t.events.append(eventFor(rt, "sandbox.ttl_extended", row, { from: row.expiresAt, to: d.expiresAt, addedSeconds: add, ttlSeconds: d.ttlSeconds }));
    return (await t.sandboxes.get(id)) as SandboxRow;
  });
  await followTtl(rt, done);
  return publicRecord(done);
}

/** After the record is extended: tell the backend, when it keeps an expiry of its own. */
async function followTtl(rt: Runtime, row: SandboxRow): Promise<void> {
  if (row.state !== "ready" || !row.handle || !row.expiresAt) return;
  const ext = await extensionOf(rt, row.extension);
  if (!ext.extendTtl) return;
  const ctx = extensionContext(rt, row, await profileOf(rt, row), hostOf(rt, row), new AbortController().signal);
  try {
    await ext.extendTtl(ctx, row.handle, new Date(row.expiresAt));
  } catch (err) {
    const e = toSandboxerError(err, "SBX_PROVISION_FAILED");
    throw new SandboxerError(e.code, `${row.id}: the record now expires at ${row.expiresAt}, but ${row.extension} could not follow: ${e.message}`, {
      cause: err,
      details: { id: row.id },
    });
  }
}

export async function listExpired(rt: Runtime): Promise<SandboxRow[]> {
  const now = rt.clock.now();
  // A pool member being claimed is the claim's: it gets the consumer's TTL or goes back to its pool.
  return (await rt.store.sandboxes.list({ states: ["ready"], expiredBefore: now.toISOString() })).filter(
    (r) => isExpired(r, now) && r.poolStage !== "claimed" && r.poolStage !== "applying",
  );
}

/**
 * Claim one expired sandbox (compare-and-set ready -> destroying, with the
 * `sandbox.expired` event in the same transaction) and tear it down. Of two
 * reapers racing, exactly one wins the claim; the other reports it skipped.
 */
async function expireOne(rt: Runtime, row: SandboxRow): Promise<"destroyed" | "skipped"> {
  const claimed = await rt.store.tx(async (t) => {
    const c = await transition(rt, row, ["ready"], "destroying", { ...ownedBy(rt.owner), reason: "ttl" }, { reason: "ttl" }, t);
    if (c) await t.events.append(eventFor(rt, "sandbox.expired", row, { expiresAt: row.expiresAt, ttlSeconds: row.ttlSeconds }));
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

export async function expire(
  rt: Runtime,
  opts: { apply?: boolean; concurrency?: number; beforeEach?: () => Promise<void> | void } = {},
): Promise<ExpireReport> {
  const rows = await listExpired(rt);
  const report: ExpireReport = { expired: rows.map(publicRecord), destroyed: [], skipped: [], errors: [] };
  if (!opts.apply) return report;
  await pool(rows, opts.concurrency ?? 4, async (row) => {
    try {
      await opts.beforeEach?.();
      const outcome = await expireOne(rt, row);
      (outcome === "destroyed" ? report.destroyed : report.skipped).push(row.id);
    } catch (err) {
      report.errors.push({ id: row.id, message: toSandboxerError(err).message });
    }
  });
  return report;
}

/** destroy_failed records still hold resources: claim each and try the teardown again, keeping its reason. */
export async function retryDestroyFailed(rt: Runtime, opts: { concurrency?: number; beforeEach?: () => Promise<void> | void } = {}): Promise<RetryReport> {
  const rows = await rt.store.sandboxes.list({ states: ["destroy_failed"] });
  const report: RetryReport = { destroyed: [], skipped: [], errors: [] };
  await pool(rows, opts.concurrency ?? 4, async (row) => {
    try {
      await opts.beforeEach?.();
      const reason = row.reason ?? "reap";
      const claimed = await transition(rt, row, ["destroy_failed"], "destroying", { ...ownedBy(rt.owner), reason }, { reason, retry: true });
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
