import { applyCreate, planFor } from "./broker/create.js";
import { type AgentsApi, agentsApi } from "./broker/agents-api.js";
import { addCredits, creditAccounts, creditHistory } from "./broker/credits.js";
import { applyDestroy, getRow } from "./broker/destroy.js";
import { execIn } from "./broker/exec.js";
import { inspectHosts, inspectStale, reapStaleNow } from "./broker/inspect.js";
import { registerRuntime } from "./broker/internal.js";
import { logTail } from "./broker/logs.js";
import { type PoolSetting, type PoolStatus, poolStatus, setPool } from "./broker/pools.js";
import { openTerminal, type TerminalOptions, type TerminalSession } from "./broker/terminal.js";
import { type DrainReport, drainPools, type RefillOptions, type RefillReport, refillPools } from "./broker/pools-refill.js";
import type { CreatePlan, CreateRequest } from "./broker/plan.js";
import { type ReconcileReport, reconcile } from "./broker/reconcile.js";
import { EventWatch } from "./broker/event-watch.js";
import { ownerFromEnv, startHeartbeat } from "./broker/owner.js";
import { readRoutingStats } from "./broker/routing-inputs.js";
import { extensionOf, type ProgressNote, type Runtime } from "./broker/runtime.js";
import { createSnapshot, deleteSnapshot, getSnapshot, listSnapshots, type RestoreOptions, restoreSnapshot } from "./broker/snapshots.js";
import type { ReapResult, StaleReport } from "./broker/stale.js";
import { type Principal, type TokenInfo, Tokens } from "./broker/tokens.js";
import { type ExpireReport, expire, extendTtl, type RetryReport, retryDestroyFailed } from "./broker/ttl.js";
import { type Catalog, loadCatalog } from "./catalog/load.js";
import type { Registration } from "./catalog/schema.js";
import { type Config, type Env, loadConfig, type Paths, resolvePaths } from "./config.js";
import type { Account, LedgerEntry } from "./credits/index.js";
import { SandboxerError, toSandboxerError } from "./errors.js";
import { LiveDelivery } from "./events/live.js";
import { type DeliveryReport, deliverPending, type FetchLike } from "./events/publisher.js";
import type { Capabilities, ExecIo, ExecOptions, ExecResult, ExtensionKind, Placement } from "./extensions/define.js";
import { type IdGen, randomIds } from "./ids.js";
import type { ReadyStats } from "./routing/types.js";
import { type Caller, isOperator } from "./tenancy/access.js";
import type { Snapshot } from "./snapshots/types.js";
import { publicRecord } from "./store/rows.js";
import { openStore } from "./store/open.js";
import type { EventQuery, OutboxStats, SandboxFilter, SnapshotFilter, Store, UiSessionRepo } from "./store/types.js";
import type { HostReport } from "./broker/host-report.js";
import { transportForHost } from "./transport/for-host.js";
import type { Transport } from "./transport/types.js";
import { type Clock, type Host, type Sandbox, type SandboxEvent, systemClock } from "./types.js";

export type { CreatePlan, CreateRequest, Refusal } from "./broker/plan.js";
export { refusalOf } from "./broker/plan.js";
export type { ProgressNote } from "./broker/runtime.js";
export type { FileEntry, FileListing, ProcessInfo, ProcessOutput } from "./broker/agents-api.js";
export type { ReconcileReport } from "./broker/reconcile.js";
export type { RestoreOptions } from "./broker/snapshots.js";
export type { ReapResult, StaleReport } from "./broker/stale.js";
export type { Principal, TokenInfo } from "./broker/tokens.js";
export type { ExpireReport, RetryReport } from "./broker/ttl.js";
export type { ExecIo, ExecOptions, ExecResult } from "./extensions/define.js";
export { EXEC_CAPTURE_LIMIT } from "./extensions/exec-process.js";
/** A tar (or any command) on this host whose output an upload takes: a local broker runs it in one kernel pipeline with the sandbox's side. */
export { LocalCommandOutput } from "./transport/pipe-into.js";
export type { Account, LedgerEntry } from "./credits/index.js";
export type { DeliveryReport } from "./events/publisher.js";
export type { EventQuery, OutboxStats, SandboxFilter, SnapshotFilter, UiSessionRepo, UiSessionRow } from "./store/types.js";
export type { HostReport } from "./broker/host-report.js";
export type { ReadyStats } from "./routing/types.js";
export type { PoolSetting, PoolStatus } from "./broker/pools.js";
export type { TerminalOptions, TerminalSession } from "./broker/terminal.js";
export type { DrainReport, RefillOptions, RefillReport } from "./broker/pools-refill.js";

export type ExtensionInfo = Registration & { kind: ExtensionKind; capabilities: Capabilities; placement?: Placement };

export interface Health {
  /** The store answered (within a few seconds). */
  ok: boolean;
  version: string;
  schemaVersion: number;
  /** "sqlite" or "postgres". */
  store?: string | undefined;
  /** This process's replica id (SANDBOXER_REPLICA_ID). */
  replica?: string | undefined;
  /** Why the store did not answer. */
  error?: string | undefined;
}

export const VERSION = "0.1.0";

export interface BrokerOptions {
  env?: Env;
  paths?: Paths;
  store?: Store;
  clock?: Clock;
  ids?: IdGen;
  /** Transport per host; defaults to local processes for localhost. */
  transportFor?: (host: Host) => Transport;
  onProgress?: (note: ProgressNote) => void;
  fetch?: FetchLike;
}

/**
 * The one interface the CLI, the HTTP API, the reaper, MCP and the dashboard
 * call. Every method is async, so the same interface is served in-process
 * (createBroker) and over HTTP (src/client/remote-broker.ts).
 */
export interface Broker extends AgentsApi {
  /** `onRecord` fires once the record exists (before provisioning ends), for `POST /v1/sandboxes?wait=false`. */
  create(req: CreateRequest, opts?: { signal?: AbortSignal; onRecord?: (sb: Sandbox) => void }): Promise<Sandbox>;
  plan(req: CreateRequest): Promise<CreatePlan>;
  get(id: string): Promise<Sandbox>;
  list(filter?: SandboxFilter): Promise<Sandbox[]>;
  destroy(id: string): Promise<Sandbox>;
  /** `caller`: who asks (API principal); its access and confinement apply as for a create. */
  recreate(id: string, opts?: { signal?: AbortSignal; caller?: Caller | undefined }): Promise<Sandbox>;
  exec(id: string, argv: string[], io: ExecIo, opts?: ExecOptions): Promise<ExecResult>;
  /** An interactive terminal on a pty of this machine, for callers that are not terminals (the API's WebSocket exec). */
  terminal(id: string, argv: string[], opts: TerminalOptions): Promise<TerminalSession>;
  events(opts?: EventQuery): Promise<SandboxEvent[]>;
  /**
   * Every event, warm pool members' included (`events` leaves those out).
   * Operators' views only: the dashboard's pools page follows refills and
   * drains with it; nothing a tenant reads may come from here.
   */
  allEvents(opts?: Omit<EventQuery, "pool">): Promise<SandboxEvent[]>;
  /**
   * Resolve once an event after `afterSeq` may have been committed (by any
   * process or replica on the store), or after about `pollMs` (longer on a
   * store that notifies), or on `signal`. Followers call `events` again then.
   */
  awaitEvents(afterSeq: number, pollMs: number, signal?: AbortSignal): Promise<void>;
  reconcile(opts?: { deep?: boolean }): Promise<ReconcileReport>;
  /**
   * Deliver pending events to the State Hub within the budget; null when no hub is configured.
   * `all`: every undelivered event now, ignoring the backoff schedule (`events flush`).
   */
  flushEvents(budgetMs: number, opts?: { all?: boolean }): Promise<DeliveryReport | null>;
  outboxStats(): Promise<OutboxStats>;
  catalog(): Promise<Catalog>;
  /** Registrations joined with what the code declares (kind, capabilities): `extensions list`, `GET /v1/extensions`. */
  extensions(): Promise<ExtensionInfo[]>;
  config(): Promise<Config>;
  /** The broker's clock (injected in tests; the reaper schedules by it). */
  readonly clock: Clock;
  /** Snapshots: archive a ready sandbox's workspace; restore = a NEW sandbox from it. */
  snapshot(id: string, opts?: { name?: string | undefined; signal?: AbortSignal }): Promise<Snapshot>;
  snapshots(filter?: SnapshotFilter): Promise<Snapshot[]>;
  getSnapshot(id: string): Promise<Snapshot>;
  deleteSnapshot(id: string): Promise<Snapshot>;
  restore(snapshotId: string, opts?: RestoreOptions): Promise<Sandbox>;
  /** TTL: extend within the profile maximum; list or destroy (reason `ttl`) what has expired. */
  extendTtl(id: string, duration: string): Promise<Sandbox>;
  expire(opts?: { apply?: boolean; concurrency?: number | undefined; beforeEach?: () => Promise<void> | void }): Promise<ExpireReport>;
  /** Claim every destroy_failed record and try its teardown again (the reaper runs this). */
  retryDestroyFailed(opts?: { concurrency?: number | undefined; beforeEach?: () => Promise<void> | void }): Promise<RetryReport>;
  /** Credit accounts: one (`account`), or all. */
  credits(opts?: { account?: string | undefined }): Promise<Account[]>;
  /** Top an account up; `amount` in credits, at most 6 decimals. */
  addCredits(opts: { account: string; amount: number | string; note?: string | undefined }): Promise<Account>;
  /** Ledger entries, oldest first: the newest `limit`, or with `since` every entry from then on. */
  creditHistory(opts?: { account?: string | undefined; since?: string | undefined; limit?: number | undefined }): Promise<LedgerEntry[]>;
  /** API bearer tokens: the secret is returned once, only its hash is kept. */
  createToken(opts: { actor: string; project?: string | undefined; name?: string | undefined }): Promise<{ token: string; info: TokenInfo }>;
  listTokens(): Promise<TokenInfo[]>;
  revokeToken(id: string): Promise<TokenInfo>;
  /** The principal a presented token stands for; undefined when unknown, malformed or revoked. */
  verifyToken(token: string): Promise<Principal | undefined>;
  /** The principal of a token by its id while the token works (exists, not revoked); a dashboard session re-checks its token with it. */
  tokenPrincipal(tokenId: string): Promise<Principal | undefined>;
  /** Dashboard sign-ins kept in the store, so every replica resolves them (src/ui/session.ts decides; rows hold digests and token ids only). */
  readonly uiSessions: UiSessionRepo;
  /** Liveness: whether the store answers (never throws: `ok: false` with the reason). */
  health(): Promise<Health>;
  /** Named leases (one reaper at a time): take or renew until `until`; false while another holder has it. */
  acquireLease(name: string, holder: string, now: Date, until: Date): Promise<boolean>;
  releaseLease(name: string, holder: string): Promise<void>;
  leaseHolder(name: string): Promise<string | null>;
  /** `inspect host [NAME]`. */
  inspectHosts(name?: string): Promise<HostReport[]>;
  /** `inspect stale`: resources without live records, live records without resources. Changes nothing. */
  inspectStale(opts?: { host?: string | undefined }): Promise<StaleReport>;
  /** `reap-stale --apply`: what inspectStale finds, removed (orphans) and closed (ghosts). */
  reapStale(opts?: { host?: string | undefined }): Promise<StaleReport & ReapResult>;
  /** Routing's measured time to ready (p50 of recent records), keyed `extension@host`, for these pairs. */
  readyStats(pairs: readonly (readonly [string, string])[]): Promise<ReadonlyMap<string, ReadyStats>>;
  /** Warm pools (docs/pools.md): size, ready, claimed, hit rate, refill lag of each. Operators only through the API. */
  pools(): Promise<PoolStatus[]>;
  /** `pools set PROFILE --size N [--input k=v]`: a run-time size (0 = off) for the pool of a profile and its shaping inputs. */
  setPool(setting: PoolSetting): Promise<PoolStatus>;
  /** `pools drain PROFILE`: size 0 for its pools (or the one of `inputs`) and their warm members destroyed. */
  drainPool(profile: string, opts?: { inputs?: Record<string, string> | undefined }): Promise<DrainReport>;
  /** One refill pass over every pool; the reaper runs these under its lease. */
  refillPools(opts?: RefillOptions): Promise<RefillReport>;
  /** The tail of a sandbox's server-side log (a Packer build's), or null; it names server paths (operators only). */
  logTail(id: string, maxBytes?: number): Promise<string | null>;
  close(): Promise<void>;
}

/** The one place the CLI, the HTTP API and the reaper call. */
export function createBroker(opts: BrokerOptions = {}): Broker {
  const env = opts.env ?? process.env;
  const paths = opts.paths ?? resolvePaths(env);
  const store = opts.store ?? openStore(paths, env);
  let config: Config | undefined;
  let catalog: Promise<Catalog> | undefined;
  const transports = new Map<string, Transport>();
  const rt: Runtime = {
    store,
    clock: opts.clock ?? systemClock,
    ids: opts.ids ?? randomIds,
    paths,
    env,
    config: () => {
      config ??= loadConfig(paths, env);
      return config;
    },
    catalog: () => {
      catalog ??= loadCatalog(paths);
      return catalog;
    },
    transportFor:
      opts.transportFor ??
      ((host) => {
        // One transport per host per broker: for SSH hosts that is one ControlMaster, one handshake.
        const t = transports.get(host.name) ?? transportForHost(host, env, paths.run);
        transports.set(host.name, t);
        return t;
      }),
    onProgress: opts.onProgress,
    owner: ownerFromEnv(env),
    eventsWritten: () => liveDelivery()?.kick(),
  };
  // With a State Hub configured, events go out as they are written (a long build's progress during the build).
  let live: LiveDelivery | null | undefined;
  const hubUrl = (): string | undefined => {
    try {
      return rt.config().stateHubUrl;
    } catch {
      return undefined;
    }
  };
  const deliver = (url: string, budgetMs: number, all = false) =>
    deliverPending({ outbox: store.events, url, clock: rt.clock, budgetMs, ignoreSchedule: all, ...(opts.fetch ? { fetch: opts.fetch } : {}) });
  const liveDelivery = (): LiveDelivery | null => {
    if (live === undefined) {
      const url = hubUrl();
      live = url ? new LiveDelivery({ deliver: (budgetMs) => deliver(url, budgetMs) }) : null;
    }
    return live;
  };
  // Replicas elsewhere judge this process's in-flight records by this heartbeat (src/broker/owner.ts).
  const heartbeat = startHeartbeat(store, rt.owner);
  const watch = new EventWatch(store);
  // Tokens carry wall-clock times whatever clock drives TTLs.
  const tokens = new Tokens(store, systemClock);

  // The light reconcile before each command. While one runs in this process (a replica under load), another
  // command does not read the same records again: the running one claims and finishes what crashes left, and
  // a second would find those claimed by this live process and pass them by anyway.
  // Says whether it changed anything (a create then plans again: its reads may have counted a crashed record).
  let settling: Promise<unknown> | undefined;
  const settleCrashes = async (): Promise<boolean> => {
    if (settling) return false;
    const run = reconcile(rt);
    settling = run.finally(() => {
      settling = undefined;
    });
    const report = await run;
    return report.actions.length > 0 || report.errors.length > 0;
  };
  const broker: Broker = {
    ...agentsApi(rt),
    // Reconcile's read goes out with the plan's reads (one round trip on Postgres); see applyCreate.
    create: (req, o = {}) => applyCreate(rt, req, { ...o, settle: settleCrashes }),
    plan: (req) => planFor(rt, req),
    async get(id) {
      const sb = await store.sandboxes.getPublic(id);
      if (!sb) throw new SandboxerError("SBX_NOT_FOUND", `no sandbox '${id.slice(0, 64)}'`, { details: { id } });
      return sb;
    },
    list: async (filter = {}) => (await store.sandboxes.list({ ...filter, pool: "hide" })).map(publicRecord),
    async destroy(id) {
      await settleCrashes();
      return applyDestroy(rt, id, "user");
    },
    async recreate(id, o = {}) {
      await settleCrashes();
      const old = await getRow(rt, id);
      if (!isOperator(o.caller) && old.project !== o.caller?.project)
        throw new SandboxerError("SBX_NOT_FOUND", `no sandbox '${id.slice(0, 64)}'`, { details: { id } });
      const req: CreateRequest = {
        profile: old.profile,
        inputs: old.inputs,
        host: old.host,
        ttl: old.ttlSeconds ? `${old.ttlSeconds}s` : undefined,
        extension: old.extension,
        actor: old.actor,
        project: old.project ?? undefined,
        caller: o.caller,
      };
      // Refusals (access, confinement, secrets not kept) come before the old sandbox is destroyed.
      await planFor(rt, req);
      if (old.state !== "destroyed") await applyDestroy(rt, id, "user");
      return applyCreate(rt, req, { ...(o.signal ? { signal: o.signal } : {}), recreatedFrom: id });
    },
    exec: (id, argv, io, o = {}) => execIn(rt, id, argv, io, o),
    terminal: (id, argv, o) => openTerminal(rt, id, argv, o),
    events: (o = {}) => store.events.list({ ...o, pool: "hide" }),
    allEvents: (o = {}) => store.events.list({ ...o, pool: "all" }),
    awaitEvents: (afterSeq, pollMs, signal) => watch.wait(afterSeq, pollMs, signal),
    reconcile: (o = {}) => reconcile(rt, o),
    async flushEvents(budgetMs, o = {}) {
      const url = rt.config().stateHubUrl;
      if (!url) return null;
      // One deliverer at a time in this process keeps the hub's view in outbox order.
      const started = Date.now();
      await live?.idle(budgetMs);
      return deliver(url, Math.max(1, budgetMs - (Date.now() - started)), o.all === true);
    },
    outboxStats: () => store.events.stats(),
    catalog: () => rt.catalog(),
    async extensions() {
      const rows: ExtensionInfo[] = [];
      for (const reg of (await rt.catalog()).registrations.values()) {
        const ext = await extensionOf(rt, reg.id);
        rows.push({ ...reg, kind: ext.kind, capabilities: ext.capabilities, placement: ext.placement });
      }
      return rows;
    },
    config: async () => rt.config(),
    clock: rt.clock,
    async snapshot(id, o = {}) {
      await settleCrashes();
      return createSnapshot(rt, id, o);
    },
    snapshots: (filter = {}) => listSnapshots(rt, filter),
    getSnapshot: (id) => getSnapshot(rt, id),
    deleteSnapshot: (id) => deleteSnapshot(rt, id),
    async restore(snapshotId, o = {}) {
      await settleCrashes();
      return restoreSnapshot(rt, snapshotId, o);
    },
    extendTtl: (id, duration) => extendTtl(rt, id, duration),
    expire: (o = {}) => expire(rt, { apply: o.apply ?? false, concurrency: o.concurrency ?? 4, ...(o.beforeEach ? { beforeEach: o.beforeEach } : {}) }),
    retryDestroyFailed: (o = {}) => retryDestroyFailed(rt, { concurrency: o.concurrency ?? 4, ...(o.beforeEach ? { beforeEach: o.beforeEach } : {}) }),
    credits: (o = {}) => creditAccounts(store, o.account),
    addCredits: (o) => addCredits(rt, store, o.account, o.amount, o.note),
    creditHistory: (o = {}) => creditHistory(store, o),
    createToken: (o) => tokens.create(o),
    listTokens: () => tokens.list(),
    revokeToken: (id) => tokens.revoke(id),
    verifyToken: (token) => tokens.verify(token),
    tokenPrincipal: (tokenId) => tokens.principal(tokenId),
    uiSessions: store.uiSessions,
    async health() {
      const base = { version: VERSION, store: store.kind, replica: rt.owner.replica };
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("the store did not answer within 3s")), 3000);
      });
      try {
        return { ok: true, ...base, schemaVersion: await Promise.race([store.schemaVersion(), late]) };
      } catch (err) {
        return { ok: false, ...base, schemaVersion: 0, error: toSandboxerError(err).message };
      } finally {
        clearTimeout(timer);
      }
    },
    acquireLease: (name, holder, now, until) => store.leases.acquire(name, holder, now.toISOString(), until.toISOString()),
    releaseLease: (name, holder) => store.leases.release(name, holder),
    leaseHolder: async (name) => (await store.leases.get(name))?.holder ?? null,
    inspectHosts: (name) => inspectHosts(rt, name),
    inspectStale: (o = {}) => inspectStale(rt, o.host),
    reapStale: (o = {}) => reapStaleNow(rt, o.host),
    readyStats: async (pairs) => (await readRoutingStats(store, rt.clock, pairs, new Set())).readyStats,
    logTail: (id, maxBytes) => logTail(rt, id, maxBytes),
    pools: () => poolStatus(rt),
    setPool: (setting) => setPool(rt, setting),
    async drainPool(profile, o = {}) {
      await settleCrashes();
      return drainPools(rt, profile, o.inputs);
    },
    refillPools: (o = {}) => refillPools(rt, o),
    async close() {
      heartbeat.stop();
      await watch.close();
      await live?.stop(2000);
      for (const t of transports.values()) await t.close();
      await store.close();
    },
  };
  registerRuntime(broker, rt);
  return broker;
}
