import type {
  Account,
  Broker,
  CreatePlan,
  CreateRequest,
  EventQuery,
  ExtensionInfo,
  LedgerEntry,
  ReconcileReport,
  SandboxFilter,
  SnapshotFilter,
} from "../broker.js";
import type { Catalog } from "../catalog/load.js";
import type { Profile, Registration } from "../catalog/schema.js";
import type { Config, Env } from "../config.js";
import { isErrorCode, SandboxerError } from "../errors.js";
import type { ExecIo, ExecOptions, ExecResult } from "../extensions/define.js";
import type { Snapshot } from "../snapshots/types.js";
import { type Host, type Sandbox, type SandboxEvent, systemClock } from "../types.js";
import { Readable } from "node:stream";
import { remoteFiles } from "./files.js";
import { remoteTerminal } from "./terminal.js";
import { type CreateSandboxBody, SandboxerClient } from "./index.js";

/** Archive paths are shown to adm tokens only; say where the archive is rather than print nothing. */
const onServer = (s: { path?: string | undefined }): Snapshot => ({ ...s, path: s.path ?? "(on the server)" }) as Snapshot;

const remoteOnly = (what: string) =>
  new SandboxerError("SBX_UNSUPPORTED", `${what} runs on the server, not through SANDBOXER_URL (unset it on the server machine)`);

const refuse = (what: string) => async (): Promise<never> => {
  throw remoteOnly(what);
};

/**
 * The broker the CLI uses when SANDBOXER_URL is set: the same interface as the
 * in-process broker, every operation an API call, so each command works
 * unchanged against a remote server. What the API deliberately does not offer
 * (tokens, leases, host inspection) says so.
 */
export function remoteBroker(env: Env): Broker {
  const url = env.SANDBOXER_URL as string;
  try {
    new URL(url);
  } catch {
    throw new SandboxerError("SBX_USAGE", `SANDBOXER_URL: '${url.slice(0, 100)}' is not a URL (like http://127.0.0.1:7070)`, {
      details: { field: "SANDBOXER_URL" },
    });
  }
  const client = new SandboxerClient({ url, token: env.SANDBOXER_TOKEN || undefined });
  const rf = remoteFiles(client);

  return {
    async create(req: CreateRequest, o = {}) {
      const { idempotencyKey, ...body } = req;
      const sb = (await client.createSandbox(body as CreateSandboxBody, { idempotencyKey, ...(o.signal ? { signal: o.signal } : {}) })) as Sandbox;
      o.onRecord?.(sb);
      return sb;
    },
    async plan(req: CreateRequest): Promise<CreatePlan> {
      const { idempotencyKey: _k, ...body } = req;
      const plan = await client.plan(body as CreateSandboxBody);
      // The server explains a refusal with 200; here it is the same refusal the local broker throws.
      if (plan.refused) {
        const route = plan.route as { strategy?: string; rejected?: unknown[] };
        const refusal = {
          ...plan.refused,
          profile: String(plan.profile.id),
          strategy: route.strategy ?? "",
          ttlSeconds: plan.ttlSeconds,
          project: plan.project,
          rejected: route.rejected ?? [],
        };
        throw new SandboxerError(isErrorCode(plan.refused.code) ? plan.refused.code : "SBX_INTERNAL", plan.refused.message, {
          details: { rejected: refusal.rejected, refusal },
        });
      }
      return plan as unknown as CreatePlan;
    },
    get: (id) => client.getSandbox(id) as Promise<Sandbox>,
    async list(filter: SandboxFilter = {}) {
      const out: Sandbox[] = [];
      let cursor: string | undefined;
      do {
        const page = await client.listSandboxes({
          state: filter.states?.join(","),
          all: filter.states ? undefined : "true",
          profile: filter.profile,
          project: filter.project,
          extension: filter.extension,
          host: filter.host,
          limit: 500,
          cursor,
        });
        out.push(...(page.items as Sandbox[]));
        cursor = page.nextCursor ?? undefined;
      } while (cursor && (filter.limit === undefined || out.length < filter.limit));
      return filter.limit === undefined ? out : out.slice(0, filter.limit);
    },
    destroy: (id) => client.destroySandbox(id) as Promise<Sandbox>,
    recreate: (id) => client.recreateSandbox(id) as Promise<Sandbox>,
    async exec(id: string, argv: string[], io: ExecIo, opts: ExecOptions = {}): Promise<ExecResult> {
      // A terminal: the server's WebSocket exec (src/client/terminal.ts), as kubectl exec -it.
      if (opts.tty) return remoteTerminal(client, id, argv, { service: opts.service });
      if (opts.stdin !== undefined && !Buffer.isBuffer(opts.stdin)) throw remoteOnly("streaming stdin into exec");
      const body = {
        ...(opts.service === undefined ? {} : { service: opts.service }),
        ...(opts.timeoutMs === undefined ? {} : { timeout: `${Math.max(1, Math.ceil(opts.timeoutMs / 1000))}s` }),
        ...(opts.stdin === undefined ? {} : { stdinBase64: (opts.stdin as Buffer).toString("base64") }),
      };
      // A caller that leaves (an MCP cancel under `sandboxer mcp` in remote mode) hangs up: the server stops the command.
      const r = await client.exec(id, argv, body, opts.signal);
      if (io.stdout === "inherit") process.stdout.write(r.stdout);
      if (io.stderr === "inherit") process.stderr.write(r.stderr);
      return {
        exitCode: r.exitCode,
        stdout: r.stdout,
        stderr: r.stderr,
        ...(r.truncated ? { truncated: true } : {}),
        ...(r.timedOut ? { timedOut: true } : {}),
      };
    },
    async events(o: EventQuery = {}) {
      return (await client.events({ sandbox: o.sandboxId, after: o.afterSeq, limit: o.limit })).items as SandboxEvent[];
    },
    terminal: refuse("a terminal on the server's own pty (the CLI's exec -it uses the terminal WebSocket)"),
    allEvents: refuse("pool members' events (the server's dashboard reads them)"),
    // The server streams events; a remote follower polls.
    awaitEvents: (_after, pollMs, signal) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(resolve, pollMs);
        signal?.addEventListener("abort", () => {
          clearTimeout(t);
          resolve();
        });
      }),
    reconcile: async () => (await client.reconcile()) as unknown as ReconcileReport,
    // Event delivery to the State Hub is the server's job.
    flushEvents: async () => null,
    outboxStats: refuse("the outbox"),
    extensions: () => client.extensions() as unknown as Promise<ExtensionInfo[]>,
    async catalog(): Promise<Catalog> {
      const [p, exts] = await Promise.all([client.profiles(), client.extensions()]);
      return {
        profiles: new Map((p.profiles as unknown as Profile[]).map((x) => [x.id, x])),
        registrations: new Map((exts as unknown as Registration[]).map((x) => [x.id, x])),
        errors: p.errors as unknown as Catalog["errors"],
        warnings: p.warnings as unknown as Catalog["warnings"],
      };
    },
    async config(): Promise<Config> {
      const hosts = await client.hosts();
      const map = new Map<string, Host>(
        hosts.map((h) => [
          h.name,
          {
            name: h.name,
            labels: h.labels,
            compose: h.compose ?? undefined,
            workspaceRoot: h.workspaceRoot ?? undefined,
            ssh: h.ssh ? { host: h.ssh.host, user: h.ssh.user ?? undefined, port: h.ssh.port ?? undefined } : undefined,
          },
        ]),
      );
      return { hosts: map, stateHubUrl: undefined, defaults: {}, file: `(server ${url})` } as Config;
    },
    // Files and detached processes (src/client/files.ts).
    putFiles: async (id: string, dest: string, tar: Readable, o: { service?: string } = {}) => ({
      bytes: (await rf.put(id, dest, tar, { tar: true, service: o.service })).bytes,
    }),
    writeFile: (id: string, path: string, data: Readable | Uint8Array | string, o: { service?: string; mode?: number } = {}) =>
      rf.put(id, path, typeof data === "string" || data instanceof Uint8Array ? Readable.from([Buffer.from(data)]) : data, o),
    getFiles: (id: string, path: string, o: { service?: string } = {}) => rf.tar(id, path, o.service),
    openFile: (id: string, path: string, o: { service?: string } = {}) => rf.bytes(id, path, o.service),
    async readFile(id: string, path: string, o: { service?: string; maxBytes?: number } = {}) {
      const max = o.maxBytes ?? 8 * 1024 * 1024;
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of await rf.bytes(id, path, o.service)) {
        size += (c as Buffer).length;
        if (size - (c as Buffer).length < max) chunks.push(c as Buffer);
      }
      const data = Buffer.concat(chunks).subarray(0, max);
      return { data, size, truncated: size > data.length };
    },
    listFiles: (id: string, path: string, o: { service?: string; limit?: number } = {}) => rf.list(id, path, o),
    statFile: (id: string, path: string, o: { service?: string } = {}) => rf.stat(id, path, o.service),
    deleteFile: async (id: string, path: string, o: { service?: string; recursive?: boolean } = {}) => {
      await rf.remove(id, path, o);
    },
    startProcess: (id: string, argv: string[], o: { service?: string; cwd?: string } = {}) => rf.start(id, argv, o),
    listProcesses: (id: string) => rf.processes(id),
    processOutput: (id: string, pid: string, o: { offset?: number; maxBytes?: number } = {}) => rf.output(id, pid, o),
    killProcess: (id: string, pid: string, signal?: string) => rf.kill(id, pid, signal),
    clock: systemClock,
    snapshot: async (id, o = {}) => onServer(await client.createSnapshot(id, { name: o.name })),
    snapshots: async (f: SnapshotFilter = {}) => (await client.listSnapshots({ sandbox: f.sandboxId, profile: f.profile, project: f.project })).map(onServer),
    getSnapshot: async (id) => onServer(await client.getSnapshot(id)),
    deleteSnapshot: async (id) => onServer(await client.deleteSnapshot(id)),
    restore: (id, o = {}) => {
      const { signal: _s, ...body } = o;
      return client.restoreSnapshot(id, Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined))) as Promise<Sandbox>;
    },
    extendTtl: (id, duration) => client.extendTtl(id, duration) as Promise<Sandbox>,
    expire: async (o = {}) => {
      const { applied: _a, ...report } = await client.expire({ apply: Boolean(o.apply) });
      return report as unknown as Awaited<ReturnType<Broker["expire"]>>;
    },
    retryDestroyFailed: refuse("retrying failed destroys (the server's reaper does it)"),
    // The API names accounts by project; the account of project P is P ("default" for none).
    credits: async (o = {}) => (await client.credits({ project: o.account })).accounts as Account[],
    async addCredits(o) {
      const { accounts } = await client.addCredits({ amount: o.amount, project: o.account, note: o.note });
      const a = accounts[0];
      if (!a) throw new SandboxerError("SBX_INTERNAL", "the server answered a top-up without the account");
      return a as Account;
    },
    creditHistory: async (o = {}) => (await client.creditHistory({ project: o.account, since: o.since, limit: o.limit })) as LedgerEntry[],
    createToken: refuse("minting tokens"),
    listTokens: refuse("listing tokens"),
    revokeToken: refuse("revoking tokens"),
    verifyToken: refuse("verifying tokens"),
    tokenPrincipal: refuse("verifying tokens"),
    uiSessions: {
      create: refuse("dashboard sessions"),
      get: refuse("dashboard sessions"),
      touch: refuse("dashboard sessions"),
      delete: refuse("dashboard sessions"),
      sweep: refuse("dashboard sessions"),
      trim: refuse("dashboard sessions"),
      count: refuse("dashboard sessions"),
    },
    health: () => client.health(),
    acquireLease: refuse("the reaper lease"),
    releaseLease: refuse("the reaper lease"),
    leaseHolder: refuse("the reaper lease"),
    inspectHosts: refuse("inspecting hosts"),
    inspectStale: refuse("inspecting hosts"),
    reapStale: refuse("reaping stale resources"),
    readyStats: refuse("routing statistics"),
    logTail: refuse("reading server logs"),
    pools: async () => (await client.pools()).pools,
    setPool: (setting) => client.setPool(setting),
    drainPool: (profile, o = {}) => client.drainPool({ profile, ...(o.inputs ? { inputs: o.inputs } : {}) }),
    refillPools: refuse("refilling pools (the server's reaper does it)"),
    close: async () => {},
  };
}
