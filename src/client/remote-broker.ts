import type { Broker, CreateRequest, ExtensionInfo } from "../broker.js";
import type { CreatePlan } from "../broker/plan.js";
import type { Catalog } from "../catalog/load.js";
import type { Profile, Registration } from "../catalog/schema.js";
import type { Config, Env } from "../config.js";
import { SandboxerError } from "../errors.js";
import type { ExecIo, ExecOptions, ExecResult } from "../extensions/define.js";
import type { SandboxFilter } from "../store/sqlite.js";
import { type Host, type Sandbox, type SandboxEvent, systemClock } from "../types.js";
import { Readable } from "node:stream";
import { remoteFiles } from "./files.js";
import { decodeResponse, type HostInfo, SandboxerClient } from "./index.js";
import { SyncFetcher } from "./sync-fetch.js";

type Snap = { path?: string };
/** Archive paths are shown to adm tokens only; say where the archive is rather than print nothing. */
const onServer = <T extends Snap>(s: T): T => ({ ...s, path: s.path ?? "(on the server)" });

const remoteOnly = (what: string) => new SandboxerError("SBX_UNSUPPORTED", `${what} runs on the server, not through SANDBOXER_URL (unset it on the server machine)`);

/**
 * The broker the CLI uses when SANDBOXER_URL is set: every operation becomes
 * an API call, so each command works unchanged against a remote server.
 * Methods that are synchronous in-process stay synchronous (a blocking
 * request on a worker thread); anything the API has no route for says so.
 */
export function remoteBroker(env: Env): Broker {
  const url = env.SANDBOXER_URL as string;
  try {
    new URL(url);
  } catch {
    throw new SandboxerError("SBX_USAGE", `SANDBOXER_URL: '${url.slice(0, 100)}' is not a URL (like http://127.0.0.1:7070)`, { details: { field: "SANDBOXER_URL" } });
  }
  const client = new SandboxerClient({ url, token: env.SANDBOXER_TOKEN || undefined });
  const rf = remoteFiles(client);
  const sync = new SyncFetcher();
  const getSync = <T>(path: string, query: Record<string, string | number | undefined> = {}): T => {
    const { url: full, headers } = client.prepare(path, { query });
    const res = sync.request(full, { headers });
    return decodeResponse<T>(res.status, res.body);
  };

  const sendSync = <T>(method: string, path: string): T => {
    const { url: full, headers } = client.prepare(path);
    const res = sync.request(full, { method, headers });
    return decodeResponse<T>(res.status, res.body);
  };

  const impl = {
    get paths(): never {
      throw remoteOnly("reading the state directory");
    },
    get store(): never {
      throw remoteOnly("this command");
    },
    async create(req: CreateRequest, o: { signal?: AbortSignal; onRecord?: (sb: Sandbox) => void } = {}): Promise<Sandbox> {
      const { idempotencyKey, ...body } = req;
      const sb = (await client.createSandbox(body as Parameters<SandboxerClient["createSandbox"]>[0], { idempotencyKey, ...(o.signal ? { signal: o.signal } : {}) })) as Sandbox;
      o.onRecord?.(sb);
      return sb;
    },
    plan(req: CreateRequest): Promise<CreatePlan> {
      const { idempotencyKey: _k, ...body } = req;
      return client.plan(body as Parameters<SandboxerClient["plan"]>[0]) as unknown as Promise<CreatePlan>;
    },
    get: (id: string): Sandbox => getSync<Sandbox>(`/v1/sandboxes/${encodeURIComponent(id)}`),
    list(filter: SandboxFilter = {}): Sandbox[] {
      const out: Sandbox[] = [];
      let cursor: string | undefined;
      do {
        const page = getSync<{ items: Sandbox[]; nextCursor: string | null }>("/v1/sandboxes", {
          state: filter.states?.join(","),
          all: filter.states ? undefined : "true",
          profile: filter.profile,
          project: filter.project,
          extension: filter.extension,
          host: filter.host,
          limit: 500,
          cursor,
        });
        out.push(...page.items);
        cursor = page.nextCursor ?? undefined;
      } while (cursor && (filter.limit === undefined || out.length < filter.limit));
      return filter.limit === undefined ? out : out.slice(0, filter.limit);
    },
    destroy: (id: string) => client.destroySandbox(id) as Promise<Sandbox>,
    recreate: (id: string) => client.recreateSandbox(id) as Promise<Sandbox>,
    async exec(id: string, argv: string[], io: ExecIo, opts: ExecOptions = {}): Promise<ExecResult> {
      if (opts.tty) throw remoteOnly("an interactive terminal");
      if (opts.stdin !== undefined && !Buffer.isBuffer(opts.stdin)) throw remoteOnly("streaming stdin into exec");
      const body = {
        ...(opts.service === undefined ? {} : { service: opts.service }),
        ...(opts.timeoutMs === undefined ? {} : { timeout: `${Math.max(1, Math.ceil(opts.timeoutMs / 1000))}s` }),
        ...(opts.stdin === undefined ? {} : { stdinBase64: (opts.stdin as Buffer).toString("base64") }),
      };
      const r = await client.exec(id, argv, body);
      if (io.stdout === "inherit") process.stdout.write(r.stdout);
      if (io.stderr === "inherit") process.stderr.write(r.stderr);
      return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr, ...(r.truncated ? { truncated: true } : {}), ...(r.timedOut ? { timedOut: true } : {}) };
    },
    events(o: { sandboxId?: string | undefined; afterSeq?: number; limit?: number } = {}): SandboxEvent[] {
      return getSync<{ items: SandboxEvent[] }>("/v1/events", { format: "json", sandbox: o.sandboxId, after: o.afterSeq, limit: o.limit }).items;
    },
    reconcile: () => client.reconcile(),
    // Event delivery to the State Hub is the server's job.
    flushEvents: async () => null,
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
    config(): Config {
      const hosts = getSync<HostInfo[]>("/v1/hosts");
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
    contextFor(): never {
      throw remoteOnly("inspecting a sandbox's backend");
    },
    // Files and detached processes (src/client/files.ts).
    putFiles: async (id: string, dest: string, tar: Readable, o: { service?: string } = {}) => ({ bytes: (await rf.put(id, dest, tar, { tar: true, service: o.service })).bytes }),
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
    // Operations other parts of sand-boxer add to the broker, over their routes.
    extendTtl: (id: string, duration: string) => client.extendTtl(id, duration),
    snapshot: async (id: string, o: { name?: string | undefined } = {}) => onServer(await client.createSnapshot(id, { name: o.name })),
    snapshots: (f: { sandboxId?: string; profile?: string; project?: string } = {}) =>
      getSync<Snap[]>("/v1/snapshots", { sandbox: f.sandboxId, profile: f.profile, project: f.project }).map(onServer),
    getSnapshot: (id: string) => onServer(getSync<Snap>(`/v1/snapshots/${encodeURIComponent(id)}`)),
    deleteSnapshot: (id: string) => onServer(sendSync<Snap>("DELETE", `/v1/snapshots/${encodeURIComponent(id)}`)),
    restore: (id: string, o: Record<string, unknown> = {}) => {
      const { signal: _s, ...body } = o;
      return client.restoreSnapshot(id, Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined)));
    },
    expire: (o: { apply?: boolean } = {}) => client.expire({ apply: Boolean(o.apply) }),
    clock: systemClock,
    close: () => sync.close(),
  };
  // Anything else a command asks of the broker has no route: say so instead of crashing.
  return new Proxy(impl, {
    get(target, prop, receiver) {
      if (typeof prop === "string" && !(prop in target) && prop !== "then") {
        return () => {
          throw remoteOnly(`'${prop}'`);
        };
      }
      return Reflect.get(target, prop, receiver);
    },
  }) as unknown as Broker;
}
