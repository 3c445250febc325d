import { applyCreate, planFor } from "./broker/create.js";
import { applyDestroy, getRow, hostOf, profileOf } from "./broker/destroy.js";
import { type AgentsApi, agentsApi, checkExecExtras } from "./broker/agents-api.js";
import type { CreatePlan, CreateRequest } from "./broker/plan.js";
import { type ReconcileReport, reconcile } from "./broker/reconcile.js";
import { defaultOwner, extensionContext, type ProgressNote, type Runtime } from "./broker/runtime.js";
import { type Catalog, loadCatalog } from "./catalog/load.js";
import { type Config, type Env, loadConfig, type Paths, resolvePaths } from "./config.js";
import { SandboxerError } from "./errors.js";
import { type DeliveryReport, deliverPending, type FetchLike } from "./events/publisher.js";
import type { Registration } from "./catalog/schema.js";
import { type Capabilities, type ExecIo, type ExecOptions, type ExecResult, type Extension, type ExtensionContext, type ExtensionKind, SERVICE_NAME_RE } from "./extensions/define.js";
import { loadExtension } from "./extensions/index.js";
import { type IdGen, randomIds } from "./ids.js";
import { type Caller, isOperator } from "./tenancy/access.js";
import type { SnapshotFilter } from "./snapshots/records.js";
import { createSnapshot, deleteSnapshot, getSnapshot, listSnapshots, type RestoreOptions, restoreSnapshot } from "./snapshots/service.js";
import type { Snapshot } from "./snapshots/types.js";
import { publicRecord } from "./store/rows.js";
import { type SandboxFilter, SqliteStore } from "./store/sqlite.js";
import { localTransport } from "./transport/local.js";
import { sshTransport } from "./transport/ssh.js";
import type { Transport } from "./transport/types.js";
import { type ExpireReport, expire, extendTtl, type RetryReport, retryDestroyFailed } from "./ttl/expire.js";
import { type Clock, type Host, type Sandbox, type SandboxEvent, type SandboxRow, systemClock } from "./types.js";

export type { CreateRequest } from "./broker/plan.js";
export type { ReconcileReport } from "./broker/reconcile.js";

export type ExtensionInfo = Registration & { kind: ExtensionKind; capabilities: Capabilities };

export interface BrokerOptions {
  env?: Env;
  paths?: Paths;
  store?: SqliteStore;
  clock?: Clock;
  ids?: IdGen;
  /** Transport per host; defaults to local processes for localhost. */
  transportFor?: (host: Host) => Transport;
  onProgress?: (note: ProgressNote) => void;
  fetch?: FetchLike;
}

export interface Broker extends AgentsApi {
  readonly paths: Paths;
  readonly store: SqliteStore;
  /** `onRecord` fires once the record exists (before provisioning ends), for `POST /v1/sandboxes?wait=false`. */
  create(req: CreateRequest, opts?: { signal?: AbortSignal; onRecord?: (sb: Sandbox) => void }): Promise<Sandbox>;
  plan(req: CreateRequest): Promise<CreatePlan>;
  get(id: string): Sandbox;
  list(filter?: SandboxFilter): Sandbox[];
  destroy(id: string): Promise<Sandbox>;
  /** `caller`: who asks (API principal); its access and confinement apply as for a create. */
  recreate(id: string, opts?: { signal?: AbortSignal; caller?: Caller | undefined }): Promise<Sandbox>;
  exec(id: string, argv: string[], io: ExecIo, opts?: ExecOptions): Promise<ExecResult>;
  events(opts?: { sandboxId?: string | undefined; afterSeq?: number; limit?: number }): SandboxEvent[];
  reconcile(opts?: { deep?: boolean }): Promise<ReconcileReport>;
  flushEvents(budgetMs: number): Promise<DeliveryReport | null>;
  catalog(): Promise<Catalog>;
  /** Registrations joined with what the code declares (kind, capabilities): `extensions list`, `GET /v1/extensions`. */
  extensions(): Promise<ExtensionInfo[]>;
  config(): Config;
  /** The extension and a context for one record (inspection, reaping, contract tests). */
  contextFor(id: string): Promise<{ row: SandboxRow; extension: Extension; ctx: ExtensionContext }>;
  /** The broker's clock (injected in tests; the reaper schedules by it). */
  readonly clock: Clock;
  /** Snapshots (src/snapshots/): archive a ready sandbox's workspace; restore = a NEW sandbox from it. */
  snapshot(id: string, opts?: { name?: string | undefined; signal?: AbortSignal }): Promise<Snapshot>;
  snapshots(filter?: SnapshotFilter): Snapshot[];
  getSnapshot(id: string): Snapshot;
  deleteSnapshot(id: string): Snapshot;
  restore(snapshotId: string, opts?: RestoreOptions): Promise<Sandbox>;
  /** TTL (src/ttl/): extend within the profile maximum; list or destroy (reason `ttl`) what has expired. */
  extendTtl(id: string, duration: string): Promise<Sandbox>;
  expire(opts?: { apply?: boolean; concurrency?: number | undefined; beforeEach?: () => void }): Promise<ExpireReport>;
  /** Claim every destroy_failed record and try its teardown again (the reaper runs this). */
  retryDestroyFailed(opts?: { concurrency?: number | undefined; beforeEach?: () => void }): Promise<RetryReport>;
  close(): Promise<void>;
}

/** The one place the CLI, the HTTP API and the reaper call. */
export function createBroker(opts: BrokerOptions = {}): Broker {
  const env = opts.env ?? process.env;
  const paths = opts.paths ?? resolvePaths(env);
  const store = opts.store ?? new SqliteStore(paths.db);
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
        // A cluster (ext.kubernetes) has no shell to reach: its extension talks to the API server itself.
        const t = transports.get(host.name) ?? (host.name === "localhost" || host.cluster ? localTransport() : sshTransport({ host, env, runDir: paths.run }));
        transports.set(host.name, t);
        return t;
      }),
    onProgress: opts.onProgress,
    owner: defaultOwner(),
  };

  return {
    ...agentsApi(rt),
    paths,
    store,
    async create(req, o = {}) {
      await reconcile(rt);
      return applyCreate(rt, req, o);
    },
    plan: (req) => planFor(rt, req),
    get: (id) => publicRecord(getRow(rt, id)),
    list: (filter = {}) => store.listSandboxes(filter).map(publicRecord),
    async destroy(id) {
      await reconcile(rt);
      return applyDestroy(rt, id, "user");
    },
    async recreate(id, o = {}) {
      await reconcile(rt);
      const old = getRow(rt, id);
      if (!isOperator(o.caller) && old.project !== o.caller?.project) throw new SandboxerError("SBX_NOT_FOUND", `no sandbox '${id.slice(0, 64)}'`, { details: { id } });
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
    async exec(id, argv, io, opts = {}) {
      const row = getRow(rt, id);
      if (row.state !== "ready" || !row.handle) {
        throw new SandboxerError("SBX_INVALID_STATE", `${id} is ${row.state}; exec needs a ready sandbox`, { details: { id, state: row.state } });
      }
      const ext = await loadExtension(row.extension);
      if (!ext.exec) throw new SandboxerError("SBX_UNSUPPORTED", `${row.extension} cannot run commands in its sandboxes`);
      if (!argv.length) throw new SandboxerError("SBX_USAGE", "exec needs a command after --");
      if (opts.service !== undefined) {
        if (!ext.capabilities.execService) throw new SandboxerError("SBX_INPUT_INVALID", `service: ${row.extension} sandboxes have no services; --service applies to compose stacks`, { details: { field: "service" } });
        if (!SERVICE_NAME_RE.test(opts.service)) throw new SandboxerError("SBX_INPUT_INVALID", `service: '${opts.service.slice(0, 40)}' is not a service name`, { details: { field: "service" } });
      }
      checkExecExtras(ext, row.extension, opts);
      const ctx = extensionContext(rt, row, await profileOf(rt, row), hostOf(rt, row), new AbortController().signal);
      return ext.exec(ctx, row.handle, argv, io, opts);
    },
    events: (o = {}) => store.listEvents(o),
    reconcile: (o = {}) => reconcile(rt, o),
    async flushEvents(budgetMs) {
      const url = rt.config().stateHubUrl;
      if (!url) return null;
      return deliverPending({ store, url, clock: rt.clock, budgetMs, ...(opts.fetch ? { fetch: opts.fetch } : {}) });
    },
    catalog: () => rt.catalog(),
    async extensions() {
      const rows: ExtensionInfo[] = [];
      for (const reg of (await rt.catalog()).registrations.values()) {
        const ext = await loadExtension(reg.id);
        rows.push({ ...reg, kind: ext.kind, capabilities: ext.capabilities });
      }
      return rows;
    },
    config: () => rt.config(),
    async contextFor(id) {
      const row = getRow(rt, id);
      const extension = await loadExtension(row.extension);
      const ctx = extensionContext(rt, row, await profileOf(rt, row), hostOf(rt, row), new AbortController().signal);
      return { row, extension, ctx };
    },
    clock: rt.clock,
    async snapshot(id, o = {}) {
      await reconcile(rt);
      return createSnapshot(rt, id, o);
    },
    snapshots: (filter = {}) => listSnapshots(rt, filter),
    getSnapshot: (id) => getSnapshot(rt, id),
    deleteSnapshot: (id) => deleteSnapshot(rt, id),
    async restore(snapshotId, o = {}) {
      await reconcile(rt);
      return restoreSnapshot(rt, snapshotId, o);
    },
    extendTtl: (id, duration) => extendTtl(rt, id, duration),
    expire: (o = {}) => expire(rt, { apply: o.apply ?? false, concurrency: o.concurrency ?? 4, ...(o.beforeEach ? { beforeEach: o.beforeEach } : {}) }),
    retryDestroyFailed: (o = {}) => retryDestroyFailed(rt, { concurrency: o.concurrency ?? 4, ...(o.beforeEach ? { beforeEach: o.beforeEach } : {}) }),
    async close() {
      for (const t of transports.values()) await t.close();
      store.close();
    },
  };
}
