import { parseDuration } from "../duration.js";
import { SandboxerError, toSandboxerError } from "../errors.js";
import { crashPoint } from "../faults.js";
import { publicRecord } from "../store/rows.js";
import type { SnapshotSource } from "../snapshots/types.js";
import { localHostFacts } from "../telemetry/host-facts.js";
import type { Handle, Sandbox, SandboxRow } from "../types.js";
import type { Repos, Tx } from "../store/types.js";
import { POOL_ACCOUNT } from "../credits/index.js";
import { reserveCredits } from "./credits.js";
import { claimFromPool } from "./pools-claim.js";
import { MEMBER_GRACE_SECONDS, type PoolDef } from "./pools-plan.js";
import { warmPool } from "./pools.js";
import { failover } from "./failover.js";
import { priorFor, rememberKey, requestFingerprint, settledPrior } from "./idempotency.js";
import { confinePlanInputs } from "../tenancy/scope.js";
import { NO_OWNER, ownedBy, ownerAlive, ownsRecord } from "./owner.js";
import { placeOnReachableHost } from "./placement.js";
import { routingInputsFor } from "./routing-inputs.js";
import { type CreatePlan, type CreateRequest, DEFAULT_PROFILE, planCreate } from "./plan.js";
import { eventFor, extensionContext, extensionOf, nowIso, type Runtime, transition } from "./runtime.js";
import type { Extension, ExtensionContext } from "../extensions/define.js";

/**
 * Resolve everything a create needs without side effects (also used by `route explain`).
 * A matching warm pool (`pool: false` for a refill's own create) feeds routing and is named on the route.
 */
export async function planFor(rt: Runtime, req: CreateRequest, o: { pool?: boolean; restoring?: boolean } = {}): Promise<CreatePlan> {
  const catalog = await rt.catalog();
  const config = rt.config();
  const profileId = req.profile ?? config.defaults.profile ?? DEFAULT_PROFILE;
  // Independent reads, asked at once (on Postgres they overlap instead of queueing round trips).
  const [routing, matched] = await Promise.all([
    routingInputsFor(rt.store, rt.clock, catalog.profiles, config.hosts, profileId, catalog.registrations),
    o.pool !== false && catalog.profiles.has(profileId) ? warmPool(rt, profileId, req.inputs ?? {}) : undefined,
  ]);
  const pool = routing ? matched : undefined;
  const plan = planCreate(req, {
    catalog,
    hosts: config.hosts,
    hostOverride: rt.env.SANDBOXER_HOST || undefined,
    defaults: config.defaults,
    routing: routing && pool ? { ...routing, warm: pool.warm } : routing,
  });
  if (pool) plan.route.pool = { key: pool.key, warm: pool.byExtension };
  // Tenants' paths, templates and VMs are checked on this machine before anything exists.
  Object.assign(plan, confinePlanInputs(plan, req.caller, rt));
  const ext = await extensionOf(rt, plan.route.chosen);
  const parsed = ext.inputs.safeParse(plan.inputs);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join(".") || "inputs";
    throw new SandboxerError("SBX_INPUT_INVALID", `input '${field}': ${issue?.message ?? "invalid"}`, { details: { field } });
  }
  await ext.preflight?.(parsed.data, rt.env, {
    profile: plan.profile,
    host: plan.host,
    mode: plan.mode,
    restoring: o.restoring ?? false,
    paths: rt.paths,
    project: plan.project,
  });
  return plan;
}

export interface CreateOptions {
  signal?: AbortSignal | undefined;
  recreatedFrom?: string | undefined;
  /** Called once the record exists (provisioning, or an idempotent prior): lets `POST ?wait=false` answer 202 early. */
  onRecord?: ((sb: Sandbox) => void) | undefined;
  /** Restore: the extension fills the new workspace from this verified archive (ctx.restoreFrom). */
  restoreFrom?: SnapshotSource | undefined;
  /** Runs inside the `ready` transaction, for events that must commit with it (`snapshot.restored`). */
  onReady?: ((row: SandboxRow, t: Tx) => Promise<void>) | undefined;
  /** The light reconcile to run beside planning (broker.create); true when it changed something. */
  settle?: (() => Promise<boolean>) | undefined;
  /** A refill: the record is a hidden member of this pool, its idle time on the pool account (src/broker/pools-refill.ts). */
  pool?: PoolDef | undefined;
}

/**
 * Apply a create: record `requested`, move to `provisioning` owned by this
 * process, provision and wait ready under the profile timeout, record `ready`.
 * On any failure the extension's resources are torn down before `failed`.
 */
export async function applyCreate(rt: Runtime, req: CreateRequest, opts: CreateOptions = {}): Promise<Sandbox> {
  const member = opts.pool;
  const planOpts = { pool: !member && !opts.restoreFrom, restoring: Boolean(opts.restoreFrom) };
  // The light reconcile (settle) and the plan read at once; a plan made beside a reconcile that changed
  // something is made again. A refusal waits for the reconcile: the command ends only when it has.
  const [settled, planned] = await Promise.allSettled([opts.settle?.() ?? false, planFor(rt, req, planOpts)]);
  if (settled.status === "rejected") throw settled.reason;
  if (planned.status === "rejected" && !settled.value) throw planned.reason;
  const plan = settled.value || planned.status === "rejected" ? await planFor(rt, req, planOpts) : planned.value;
  const fingerprint = req.idempotencyKey ? requestFingerprint(req) : "";
  if (req.idempotencyKey) {
    const prior = await priorFor(rt.store, req.idempotencyKey, fingerprint);
    if (prior) return settledPrior(rt.store, prior, opts, (r) => ownerAlive(rt.owner, r));
  }
  // A warm pool member, when one matches (src/broker/pools-claim.ts); otherwise a cold create.
  const served = await claimFromPool(rt, req, plan, fingerprint, opts);
  if (served) return served;
  // A refill's crash points are its own (`refill-provisioning`...), so kill -9 tests can aim at either.
  const crashAt = (name: string) => crashPoint(member ? `refill-${name}` : name);
  // An unreachable SSH host is skipped (recorded in route.rejected) when placement allows another.
  await placeOnReachableHost(rt, plan, req);
  let ext = await extensionOf(rt, plan.route.chosen);
  let inputs = ext.inputs.parse(plan.inputs);
  const now = rt.clock.now();
  const at = now.toISOString();
  // A member lives until maxIdle (the refill replaces it), plus grace: expiry is the safety net when no keeper runs.
  const ttlSeconds = member ? member.maxIdleSeconds + MEMBER_GRACE_SECONDS : plan.ttlSeconds;
  const row: SandboxRow = {
    id: rt.ids("sbx"),
    profile: plan.profile.id,
    profileVersion: plan.profile.version,
    extension: plan.route.chosen,
    mode: plan.mode,
    host: plan.host.name,
    state: "requested",
    actor: plan.actor,
    project: plan.project,
    inputs: plan.recorded,
    createdAt: at,
    readyAt: null,
    expiresAt: new Date(now.getTime() + ttlSeconds * 1000).toISOString(),
    destroyedAt: null,
    reason: null,
    reachability: null,
    route: plan.route,
    cost: { pricePerHour: plan.registration.pricePerHour, currency: plan.registration.currency, reserved: 0, settled: 0 },
    error: null,
    hostFacts: null,
    ttlSeconds,
    updatedAt: at,
    handle: null,
    ...ownedBy(rt.owner),
    ...(member ? { pool: member.key, poolStage: "warming" as const } : {}),
  };
  try {
    await rt.store.tx(async (t) => {
      // Metered: hold price x TTL first; SBX_INSUFFICIENT_CREDITS rolls the whole insert back.
      await reserveCredits(rt, t, row, plan.registration, ...(member ? [POOL_ACCOUNT] : []));
      await t.sandboxes.insert(row, req.idempotencyKey);
      if (req.idempotencyKey) await rememberKey(t, req.idempotencyKey, fingerprint, row.id, at);
      await t.events.append(
        eventFor(rt, "sandbox.requested", row, {
          profile: row.profile,
          extension: row.extension,
          host: row.host,
          route: plan.route,
          recreatedFrom: opts.recreatedFrom ?? null,
        }),
      );
    });
  } catch (err) {
    // Two concurrent creates with one idempotency key: the loser returns the winner's record.
    const prior = req.idempotencyKey ? await priorFor(rt.store, req.idempotencyKey, fingerprint) : undefined;
    if (prior) return settledPrior(rt.store, prior, opts, (r) => ownerAlive(rt.owner, r));
    throw toSandboxerError(err, "SBX_STORE");
  }
  crashAt("requested");
  let cur = (await transition(rt, row, ["requested"], "provisioning")) as SandboxRow;
  crashAt("provisioning");
  opts.onRecord?.(publicRecord(cur));
  const controller = new AbortController();
  const timeoutMs = parseDuration(plan.profile.timeout, "profile timeout") * 1000;
  const timer = setTimeout(() => controller.abort(new SandboxerError("SBX_READY_TIMEOUT", `not ready within ${plan.profile.timeout}`)), timeoutMs);
  const onOuterAbort = () => controller.abort(new SandboxerError("SBX_CANCELLED", "create cancelled"));
  opts.signal?.addEventListener("abort", onOuterAbort, { once: true });
  // Aborted already (Ctrl-C right as the record appeared): the listener would never fire.
  if (opts.signal?.aborted) onOuterAbort();
  // `destroy` from another process asks this owner to cancel with an event (see applyDestroy).
  let seenSeq = 0;
  const cancelWatch = setInterval(() => {
    rt.store.events.list({ sandboxId: row.id, afterSeq: seenSeq }).then(
      (events) => {
        for (const e of events) {
          seenSeq = Math.max(seenSeq, e.seq);
          if (e.type === "sandbox.cancel_requested") controller.abort(new SandboxerError("SBX_CANCELLED", "cancelled by `destroy` during provisioning"));
        }
      },
      () => {},
    );
  }, 500);
  cancelWatch.unref();
  let ctx = extensionContext(rt, cur, plan.profile, plan.host, controller.signal);
  if (opts.restoreFrom) ctx.restoreFrom = opts.restoreFrom;
  let handle: Handle | null = null;
  let inflight: Promise<unknown> = Promise.resolve();
  try {
    for (;;) {
      try {
        const provisioning = ext.provision(ctx, inputs);
        inflight = provisioning;
        handle = await raceAbort(provisioning, controller.signal);
        const waiting = ext.waitReady(ctx, handle);
        inflight = waiting;
        const reachability = await raceAbort(waiting, controller.signal);
        crashAt("before-ready");
        // Remote canaries report facts in their reachability; local ones are read here.
        const remoteFacts = reachability.facts && typeof reachability.facts === "object" && !Array.isArray(reachability.facts) ? reachability.facts : null;
        const hostFacts = !plan.profile.hostFacts ? null : plan.host.name === "localhost" ? localHostFacts(rt.paths.home) : remoteFacts;
        const readyAt = nowIso(rt);
        // Only while still ours: another replica that judged this one dead (heartbeat older than the lease) may
        // have taken the record over and be tearing it down; then this create is cancelled, never `ready`.
        // The owner check rides in the compare-and-set itself (one statement on Postgres).
        const ready = (db: Repos) =>
          transition(rt, cur, ["provisioning"], "ready", { readyAt, reachability, handle, hostFacts, ...NO_OWNER }, { reachability }, db, { owner: rt.owner });
        const onReady = opts.onReady;
        const done = onReady
          ? await rt.store.tx(async (t) => {
              const r = await ready(t);
              if (r) await onReady(r, t);
              return r;
            })
          : await ready(rt.store);
        if (!done) {
          const now = await rt.store.sandboxes.get(row.id);
          if (now && !ownsRecord(rt.owner, now)) {
            throw new SandboxerError(
              "SBX_CANCELLED",
              `taken over by ${now.ownerReplica ?? "another process"} (process ${now.ownerPid ?? "?"}) while provisioning: this replica's heartbeat was older than the owner lease`,
            );
          }
          throw new SandboxerError("SBX_INVALID_STATE", `sandbox ${row.id} changed state while provisioning`);
        }
        return publicRecord(done);
      } catch (raw) {
        const err = toSandboxerError(
          controller.signal.aborted && controller.signal.reason instanceof SandboxerError ? controller.signal.reason : raw,
          "SBX_PROVISION_FAILED",
        );
        // Let an aborted extension call settle first, so teardown sees everything it made.
        await Promise.race([inflight.catch(() => {}), new Promise((r) => setTimeout(r, 10_000).unref())]);
        cur = (await rt.store.sandboxes.get(row.id)) ?? cur;
        ctx.progress(`provision failed (${err.code}): ${err.message}; tearing down`);
        const teardownError = await teardownQuietly(ext, { ...ctx, signal: new AbortController().signal }, handle ?? cur.handle);
        // A retryable failure with candidates left moves this record to the next one (src/routing/failover.ts).
        const next = teardownError ? null : await failover(rt, cur, plan, err, controller.signal);
        if (next) {
          ({ ext, inputs, row: cur } = next);
          ctx = extensionContext(rt, cur, plan.profile, next.host, controller.signal);
          handle = null;
          inflight = Promise.resolve();
          continue;
        }
        const message = failureMessage(err, teardownError, cur.extension, cur.host);
        await transition(rt, cur, ["provisioning"], "failed", {
          error: { code: err.code, message },
          // Cancelled (destroy during provisioning, Ctrl-C) is the user's doing, not a provisioning failure.
          reason: err.code === "SBX_CANCELLED" ? "user" : "failed-provision",
          destroyedAt: teardownError ? null : nowIso(rt),
          ...NO_OWNER,
        });
        throw new SandboxerError(err.code, `${row.id}: ${message}`, { cause: err, details: { id: row.id } });
      }
    }
  } finally {
    clearTimeout(timer);
    clearInterval(cancelWatch);
    opts.signal?.removeEventListener("abort", onOuterAbort);
  }
}

/**
 * The failed record's message. Bad input only the backend could find (a path
 * on the host, a template's variables on a remote build host) says so, since
 * the plan-time checks passed and a record exists; a teardown that failed for
 * the very same reason is not repeated.
 */
export function failureMessage(err: SandboxerError, teardownError: string | null, extension: string, host: string): string {
  const late =
    err.code === "SBX_INPUT_INVALID" || err.code === "SBX_INPUT_MISSING"
      ? ` (found by ${extension} on ${host} after the record was made; the record stays as failed)`
      : "";
  if (!teardownError) return `${err.message}${late}`;
  if (teardownError === err.message) return `${err.message}${late}; teardown failed for the same reason`;
  return `${err.message}${late}; teardown also failed: ${teardownError}`;
}

/** Stop waiting on an extension promise the moment the signal aborts (timeout, Ctrl-C). */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

export async function teardownQuietly(ext: Extension, ctx: ExtensionContext, handle: Handle | null): Promise<string | null> {
  try {
    await ext.teardown(ctx, handle);
    return null;
  } catch (err) {
    return toSandboxerError(err).message;
  }
}
