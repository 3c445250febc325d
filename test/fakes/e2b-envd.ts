/**
 * The in-sandbox side of the E2B fake: envd, the daemon every E2B sandbox runs
 * on port 49983, as reached through E2B's sandbox proxy (the SDK's
 * `sandboxUrl` / E2B_SANDBOX_URL), which routes by the `E2b-Sandbox-Id` and
 * `E2b-Sandbox-Port` headers and answers 502 for a sandbox that is gone.
 *
 * Wire contract (envd's spec/process/process.proto, Connect protocol with the
 * JSON codec the JS SDK uses):
 *   GET  /health                   204
 *   POST /process.Process/Start    application/connect+json, server streaming:
 *     request:  one envelope {process: {cmd, args, envs, cwd?}, stdin?}
 *     response: envelopes {event: {start: {pid}}}, {event: {data: {stdout|stderr: base64}}},
 *               {event: {keepalive: {}}} every `Keepalive-Ping-Interval` seconds,
 *               {event: {end: {exitCode, exited, status, error?}}}, then the end-of-stream
 *               envelope (flag 0x02) `{}` or `{"error": {code, message}}`.
 *   Envelope: 1 byte flags (0x01 compressed, 0x02 end of stream) + 4 bytes big-endian length + message.
 *   POST /process.Process/SendInput, /process.Process/Update, /process.Process/CloseStdin:
 *        terminals, and the stdin of commands started with `stdin: true` (test/fakes/e2b-pty.ts)
 *   GET  /files?path=&username=     200 the file's bytes | 404 {code, message} | 400 for a directory
 *   POST /files?path=&username=     application/octet-stream body (envd >= 0.5.7; the SDK streams a
 *                                   ReadableStream this way): 200 [{name, type: "file", path}]; parents made
 * `X-Access-Token` must be the token the control plane handed out for the sandbox.
 *
 * Commands REALLY run (the requested cmd/args, E2B's `/bin/bash -l -c CMD`) in a
 * small VM per sandbox (test/fakes/vm.ts) whose /home/user and /tmp are temp
 * dirs the fake owns and removes; /files reads and writes the same files,
 * paths resolved inside the VM. A killed sandbox ends the VM and cuts its open
 * streams, as a VM going away does.
 */
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, mkdirSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { basename, dirname } from "node:path";
import { pipeline } from "node:stream/promises";
import { type FakePty, ptyArgv, servePtyUnary } from "./e2b-pty.js";
import { type FakeVm, startVm } from "./vm.js";

const HOME = "/home/user";

interface EnvdState {
  vm: Promise<FakeVm>;
  token: string;
  procs: Set<ChildProcess>;
  ptys: Map<number, FakePty>;
  streams: Set<ServerResponse>;
}

export interface EnvdFake {
  /** The sandbox proxy's base URL (what E2B_SANDBOX_URL points at). */
  url: string;
  /** Boot envd for a new sandbox: its home dir and access token. */
  add(sandboxId: string): { token: string };
  /** The sandbox is gone: kill its processes, cut its streams, remove its dir. */
  remove(sandboxId: string): void;
  /** Commands running in the sandbox right now. */
  running(sandboxId: string): number;
  close(): Promise<void>;
}

/** One Connect envelope: flags byte, big-endian uint32 length, payload. */
export function envelope(flags: number, payload: unknown): Buffer {
  const data = Buffer.from(JSON.stringify(payload));
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(data.length, 1);
  return Buffer.concat([head, data]);
}

/** Split a request body into its envelopes; null when the framing is broken. */
export function unframe(body: Buffer): { flags: number; data: Buffer }[] | null {
  const out: { flags: number; data: Buffer }[] = [];
  let at = 0;
  while (at < body.length) {
    if (at + 5 > body.length) return null;
    const len = body.readUInt32BE(at + 1);
    if (at + 5 + len > body.length) return null;
    out.push({ flags: body.readUInt8(at), data: body.subarray(at + 5, at + 5 + len) });
    at += 5 + len;
  }
  return out;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function plain(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) res.writeHead(status).end();
  else res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

interface StartRequest {
  process?: { cmd?: string; args?: string[]; envs?: Record<string, string>; cwd?: string };
  stdin?: boolean;
  pty?: { size?: { cols?: number; rows?: number } };
}

/** A directory inside the VM to start a command in (default /home/user), or null when there is none. */
function cwdOf(vm: FakeVm, cwd: string | undefined): string | null {
  if (cwd === undefined || cwd === "") return HOME;
  const host = vm.resolve(cwd);
  try {
    return host && statSync(host).isDirectory() ? cwd : null;
  } catch {
    return null;
  }
}

async function readFileRoute(vm: FakeVm, path: string, res: ServerResponse): Promise<void> {
  const host = vm.resolve(path);
  let size: number;
  try {
    const st = host ? statSync(host) : null;
    if (!st) return plain(res, 404, { code: 404, message: `path '${path}' does not exist` });
    if (st.isDirectory()) return plain(res, 400, { code: 400, message: `path '${path}' is a directory` });
    size = st.size;
  } catch {
    return plain(res, 404, { code: 404, message: `path '${path}' does not exist` });
  }
  res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(size) });
  await pipeline(createReadStream(host as string), res);
}

async function writeFileRoute(vm: FakeVm, path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (!/^application\/octet-stream/.test(req.headers["content-type"] ?? ""))
    return plain(res, 415, { code: 415, message: "this fake takes application/octet-stream uploads only" });
  const host = vm.resolve(path);
  if (!host) return plain(res, 403, { code: 403, message: `permission denied: ${path}` });
  try {
    mkdirSync(dirname(host), { recursive: true });
    await pipeline(req, createWriteStream(host));
  } catch (err) {
    return plain(res, 400, { code: 400, message: `error writing ${path}: ${(err as Error).message}` });
  }
  plain(res, 200, [{ name: basename(path), type: "file", path: path.startsWith("/") ? path : `${HOME}/${path}` }]);
}

function start(st: EnvdState, vm: FakeVm, sandboxId: string, req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  const frames = unframe(body);
  const first = frames?.[0];
  res.writeHead(200, { "content-type": "application/connect+json" });
  const live = () => !res.destroyed && !res.writableEnded;
  const finish = (error?: { code: string; message: string }) => {
    if (live()) res.end(envelope(0x02, error ? { error } : {}));
  };
  if (!first || first.flags & 0x01) {
    finish({ code: "invalid_argument", message: "expected one uncompressed StartRequest envelope" });
    return;
  }
  const msg = JSON.parse(first.data.toString()) as StartRequest;
  const p = msg.process;
  if (!p?.cmd) {
    finish({ code: "invalid_argument", message: "process.cmd is required" });
    return;
  }
  const cwd = cwdOf(vm, p.cwd);
  if (!cwd) {
    finish({ code: "invalid_argument", message: `cwd ${p.cwd} does not exist` });
    return;
  }
  const event = (e: unknown) => {
    if (live()) res.write(envelope(0, { event: e }));
  };
  const term = msg.pty ? ptyArgv(p.cmd, p.args ?? [], msg.pty.size ?? {}) : null;
  const env = { USER: "user", LANG: "C.UTF-8", E2B_SANDBOX: "true", E2B_SANDBOX_ID: sandboxId, ...p.envs };
  const input = Boolean(term || msg.stdin);
  const child = vm.spawn(term ? term.argv : [p.cmd, ...(p.args ?? [])], { cwd, env, ...(input ? { stdio: ["pipe", "pipe", "pipe"] as const } : {}) });
  child.stdin?.on("error", () => {});
  // Terminals, and commands started with `stdin: true`, take SendInput (and CloseStdin).
  if (input && child.pid) st.ptys.set(child.pid, { child, ttyFile: term?.ttyFile ?? "" });
  st.procs.add(child);
  st.streams.add(res);
  const pingSec = Number(req.headers["keepalive-ping-interval"]);
  const ping = pingSec > 0 ? setInterval(() => event({ keepalive: {} }), pingSec * 1000) : undefined;
  const done = () => {
    clearInterval(ping);
    if (child.pid) st.ptys.delete(child.pid);
    st.procs.delete(child);
    st.streams.delete(res);
  };
  child.on("spawn", () => event({ start: { pid: child.pid } }));
  child.stdout?.on("data", (d: Buffer) => event({ data: term ? { pty: d.toString("base64") } : { stdout: d.toString("base64") } }));
  child.stderr?.on("data", (d: Buffer) => event({ data: { stderr: d.toString("base64") } }));
  child.on("error", (err) => {
    done();
    finish({ code: "internal", message: `error starting process: ${err.message}` });
  });
  child.on("close", (code, signal) => {
    done();
    // As envd (Go's ProcessState): -1 and "signal: …" when a signal ended it.
    const status = code === null ? `signal: ${signal === "SIGKILL" ? "killed" : (signal ?? "unknown")}` : `exit status ${code}`;
    event({ end: { exitCode: code ?? -1, exited: code !== null, status } });
    finish();
  });
}

export async function startEnvdFake(isLive: (sandboxId: string) => boolean): Promise<EnvdFake> {
  const states = new Map<string, EnvdState>();

  const remove = (id: string) => {
    const st = states.get(id);
    if (!st) return;
    states.delete(id);
    for (const c of st.procs) {
      try {
        if (c.pid) process.kill(-c.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    for (const r of st.streams) r.destroy();
    st.vm.then((vm) => vm.kill()).catch(() => {});
  };

  const server: Server = createServer((req, res) => {
    const id = String(req.headers["e2b-sandbox-id"] ?? "");
    const st = states.get(id);
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const serve = async () => {
      if (!id) return plain(res, 400, { code: 400, message: "missing E2b-Sandbox-Id header" });
      if (!st || !isLive(id)) return plain(res, 502, { code: 502, message: "The sandbox was not found", sandboxId: id });
      if (req.headers["x-access-token"] !== st.token) return plain(res, 401, { code: "unauthenticated", message: "invalid access token" });
      const vm = await st.vm;
      if (path === "/files") {
        const file = new URL(req.url ?? "/", "http://x").searchParams.get("path");
        if (!file) return plain(res, 400, { code: 400, message: "path is required" });
        if (req.method === "GET") return readFileRoute(vm, file, res);
        if (req.method === "POST") return writeFileRoute(vm, file, req, res);
      }
      const body = await readBody(req);
      if (req.method === "GET" && path === "/health") return plain(res, 204);
      if (req.method === "POST" && (await servePtyUnary(vm, st.ptys, path, body, res))) return;
      if (req.method === "POST" && path === "/process.Process/Start") {
        if (!/^application\/connect\+json/.test(req.headers["content-type"] ?? "")) return plain(res, 415);
        return start(st, vm, id, req, res, body);
      }
      return plain(res, 404, { code: "unimplemented", message: `${req.method} ${path} is not served by this fake` });
    };
    serve().catch((err: unknown) => {
      if (!res.headersSent) plain(res, 500, { code: "internal", message: String(err) });
      else res.destroy();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    add(id) {
      const token = randomBytes(16).toString("hex");
      const vm = startVm(`e2b-${id.slice(0, 12)}`, HOME);
      vm.catch(() => {});
      states.set(id, { vm, token, procs: new Set(), ptys: new Map(), streams: new Set() });
      return { token };
    },
    remove,
    running: (id) => states.get(id)?.procs.size ?? 0,
    close: async () => {
      for (const id of [...states.keys()]) remove(id);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
