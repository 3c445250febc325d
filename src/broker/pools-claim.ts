/**
 * Claim instead of create: a create whose plan matched a pool takes a warm
 * member in one transaction (never the same one twice: the store's claim),
 * applies what is per request (copy `repo` in; a vendor's own expiry follows
 * the new TTL), then hands it over with the request's actor, project, TTL
 * and idempotency key, with the create's normal events (`"pooled": true`).
 * Without per-request work the take and the hand-over are one transaction.
 * An empty pool is a miss, never an error: the caller creates cold.
 *
 * Crash points (SANDBOXER_CRASH_AT): `pool-claimed` (taken, nothing applied:
 * reconcile returns the member to its pool) and `pool-applying` (per-request
 * work under way: reconcile destroys the member, the refill replaces it).
 */
import { toSandboxerError } from "../errors.js";
import { crashPoint } from "../faults.js";
import { publicRecord } from "../store/rows.js";
import type { Tx } from "../store/types.js";
import type { RoutePool, Sandbox, SandboxRow } from "../types.js";
import { reserveCredits, settleIdle } from "./credits.js";
import { finishDestroy, hostOf } from "./destroy.js";
import { priorFor, rememberKey, settledPrior } from "./idempotency.js";
import { NO_OWNER, ownedBy, ownedByMe, ownerAlive, sameOwner } from "./owner.js";
import type { CreatePlan, CreateRequest } from "./plan.js";
import { loadDefs } from "./pools.js";
import type { ReconcileReport } from "./reconcile.js";
import { eventFor, extensionContext, nowIso, type Runtime, transition, extensionOf } from "./runtime.js";

interface Claim {
  req: CreateRequest;
  plan: CreatePlan;
  fingerprint: string;
  pool: RoutePool;
}

/**
 * Inside the hand-over transaction: the idle time is settled to the pool
 * account, the consumer's credits are held from now, the record is stamped
 * and shown, and its events are written.
 */
async function handOver(rt: Runtime, t: Tx, id: string, c: Claim): Promise<SandboxRow> {
  const cur = await t.sandboxes.getForUpdate(id);
  // Another replica may have judged this claim dead (its heartbeat stale) and returned the member: then it is not ours to hand over.
  if (!cur?.pool || cur.state !== "ready" || !ownedByMe(rt.owner, cur)) throw new Error(`pool member ${id} changed under its claim`);
  await settleIdle(rt, t, cur);
  const now = rt.clock.now();
  const at = now.toISOString();
  const { plan } = c;
  const route = {
    ...plan.route,
    chosen: cur.extension,
    host: cur.host,
    reason: `${plan.route.reason}; served by a warm member of pool ${c.pool.key}`,
    pool: { ...c.pool, served: true, claimedAt: at },
  };
  const row: SandboxRow = {
    ...cur,
    actor: plan.actor,
    project: plan.project,
    inputs: plan.recorded,
    ttlSeconds: plan.ttlSeconds,
    expiresAt: new Date(now.getTime() + plan.ttlSeconds * 1000).toISOString(),
    route,
    cost: { pricePerHour: plan.registration.pricePerHour, currency: plan.registration.currency, reserved: 0, settled: 0 },
  };
  // Metered: the consumer's hold, charged from now (src/broker/credits.ts); refused -> the transaction rolls back.
  await reserveCredits(rt, t, row, plan.registration);
  await t.pools.handOver(id, c.req.idempotencyKey ?? null);
  const { actor, project, inputs, ttlSeconds, expiresAt, cost } = row;
  await t.sandboxes.update(id, { actor, project, inputs, ttlSeconds, expiresAt, route, cost, ...NO_OWNER, updatedAt: at });
  if (c.req.idempotencyKey) await rememberKey(t, c.req.idempotencyKey, c.fingerprint, id, at);
  await t.events.append(
    eventFor(rt, "sandbox.requested", row, { profile: row.profile, extension: row.extension, host: row.host, route, recreatedFrom: null, pooled: true }),
  );
  await t.events.append(eventFor(rt, "sandbox.ready", row, { from: "requested", reachability: cur.reachability, pooled: true }));
  return (await t.sandboxes.get(id)) as SandboxRow;
}

/** The record an earlier create with this key made, when a race on the key is why a hand-over failed. */
async function priorInstead(
  rt: Runtime,
  c: Claim,
  opts: { signal?: AbortSignal | undefined; onRecord?: ((sb: Sandbox) => void) | undefined },
): Promise<Sandbox | undefined> {
  if (!c.req.idempotencyKey) return undefined;
  const prior = await priorFor(rt.store, c.req.idempotencyKey, c.fingerprint);
  return prior ? settledPrior(rt.store, prior, opts, (r) => ownerAlive(rt.owner, r)) : undefined;
}

/** Serve a create from its pool; undefined when the pool has no warm member for it (the route says why). */
export async function claimFromPool(
  rt: Runtime,
  req: CreateRequest,
  plan: CreatePlan,
  fingerprint: string,
  opts: { signal?: AbortSignal | undefined; onRecord?: ((sb: Sandbox) => void) | undefined } = {},
): Promise<Sandbox | undefined> {
  const pool = plan.route.pool;
  if (!pool) return undefined;
  const def = (await loadDefs(rt)).find((d) => d.key === pool.key && d.size > 0);
  if (!def) return undefined;
  const c: Claim = { req, plan, fingerprint, pool };
  const ext = await extensionOf(rt, plan.route.chosen);
  const apply = ext.perRequest?.apply ? ext.perRequest.inputs.some((k) => plan.inputs[k] !== undefined) : false;
  const work = apply || Boolean(ext.extendTtl);
  const now = rt.clock.now();
  const at = now.toISOString();
  const named = req.host ?? (rt.env.SANDBOXER_HOST || undefined);
  const query = {
    pool: def.key,
    profileVersion: plan.profile.version,
    targets: [{ extension: plan.route.chosen, host: named ?? "*" }],
    readyAfter: new Date(now.getTime() - def.maxIdleSeconds * 1000).toISOString(),
  };
  let taken: SandboxRow | undefined;
  try {
    taken = await rt.store.tx(async (t) => {
      const m = await t.pools.claim(query, rt.owner, at);
      await t.pools.count(def.key, def.profile, m ? "hit" : "miss", at);
      return m && !work ? handOver(rt, t, m.id, c) : m;
    });
  } catch (err) {
    const prior = await priorInstead(rt, c, opts);
    if (prior) return prior;
    throw err;
  }
  if (!taken) {
    plan.route.pool = { ...pool, served: false, why: "the pool had no warm member left for this create: created cold" };
    return undefined;
  }
  if (!work) {
    const sb = publicRecord(taken);
    opts.onRecord?.(sb);
    return sb;
  }
  crashPoint("pool-claimed");
  await rt.store.sandboxes.update(taken.id, { poolStage: "applying", updatedAt: nowIso(rt) });
  crashPoint("pool-applying");
  const expiresAt = new Date(rt.clock.now().getTime() + plan.ttlSeconds * 1000);
  try {
    const ctx = extensionContext(
      rt,
      { ...taken, expiresAt: expiresAt.toISOString(), ttlSeconds: plan.ttlSeconds },
      plan.profile,
      hostOf(rt, taken),
      opts.signal ?? new AbortController().signal,
    );
    if (apply && taken.handle) await ext.perRequest?.apply?.(ctx, taken.handle, ext.inputs.parse(plan.inputs));
    if (ext.extendTtl && taken.handle) await ext.extendTtl(ctx, taken.handle, expiresAt);
  } catch (err) {
    // The member was touched for this request: it never goes back. The create goes on cold (and meets the same input, if that was the cause).
    await destroyMember(rt, { ...taken, poolStage: "applying" }, `per-request work failed at claim: ${toSandboxerError(err).message}`).catch(() => false);
    plan.route.pool = { ...pool, served: false, why: `per-request work on a warm member failed (${toSandboxerError(err).code}): created cold` };
    return undefined;
  }
  try {
    const done = await rt.store.tx((t) => handOver(rt, t, taken.id, c));
    const sb = publicRecord(done);
    opts.onRecord?.(sb);
    return sb;
  } catch (err) {
    await destroyMember(rt, { ...taken, poolStage: "applying" }, `hand-over failed: ${toSandboxerError(err).message}`).catch(() => false);
    const prior = await priorInstead(rt, c, opts);
    if (prior) return prior;
    throw err;
  }
}

/**
 * Destroy a member that is still in its pool and in the stage it was seen
 * in (a claim racing the refill or a drain wins or loses as a whole). True
 * when this call destroyed it. The record stays hidden: tenants never see it.
 */
export async function destroyMember(rt: Runtime, row: SandboxRow, why: string): Promise<boolean> {
  const claimed = await rt.store.tx(async (t) => {
    const cur = await t.sandboxes.getForUpdate(row.id);
    if (!cur?.pool || cur.state !== "ready" || cur.poolStage !== row.poolStage) return undefined;
    return transition(rt, cur, ["ready"], "destroying", { ...ownedBy(rt.owner), reason: "reap" }, { reason: "reap", why, pool: cur.pool }, t);
  });
  if (!claimed) return false;
  await finishDestroy(rt, claimed, "reap");
  return true;
}

/**
 * Claims whose process died: a member taken but not yet touched goes back to
 * its pool (nobody ever had it); one whose per-request work had begun is
 * destroyed. Run by every reconcile. Judged like a create's owner
 * (./owner.ts): by the pid on the same replica, by the heartbeat's age from
 * another one.
 */
export async function reconcileClaims(rt: Runtime, report: ReconcileReport, suspects: readonly SandboxRow[]): Promise<void> {
  const stuck = suspects.filter((r) => r.state === "ready" && (r.poolStage === "claimed" || r.poolStage === "applying") && !ownerAlive(rt.owner, r));
  for (const r of stuck) {
    const why = `claiming process ${r.ownerPid ?? "?"}${r.ownerReplica && r.ownerReplica !== rt.owner.replica ? ` on replica ${r.ownerReplica}` : ""} died`;
    try {
      const outcome = await rt.store.tx(async (t) => {
        const cur = await t.sandboxes.getForUpdate(r.id);
        // Judged again under the lock: a heartbeat may have come in since the list was read.
        if (!cur || cur.poolStage !== r.poolStage || !sameOwner(cur, r) || ownerAlive(rt.owner, cur)) return "skip";
        if (cur.poolStage === "claimed") {
          await t.sandboxes.update(r.id, { poolStage: "warm", ...NO_OWNER, updatedAt: nowIso(rt) });
          await t.events.append(eventFor(rt, "pool.member_returned", cur, { why, pool: cur.pool ?? null }));
          return "returned";
        }
        await t.sandboxes.update(r.id, ownedBy(rt.owner));
        return "destroy";
      });
      if (outcome === "returned")
        report.actions.push({ id: r.id, from: "ready", to: "ready", why: `${why} before applying anything: returned to pool ${r.pool}` });
      if (outcome === "destroy" && (await destroyMember(rt, { ...r, ...ownedBy(rt.owner) }, `${why} during per-request work`))) {
        report.actions.push({ id: r.id, from: "ready", to: "destroyed", why: `${why} during per-request work: member destroyed` });
      }
    } catch (err) {
      report.errors.push({ id: r.id, message: toSandboxerError(err).message });
    }
  }
}
