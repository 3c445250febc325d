/**
 * Detached processes in a ready sandbox (`exec --detach`, `ps`, `logs`,
 * `kill`, the API's /processes, MCP's start/read/kill). Each one has a
 * directory in the sandbox's run dir on this machine: its spec, a detached
 * supervisor (sandbox-shell/ring.ts) that runs the command over
 * `sandboxCommand` and keeps its output in a bounded ring, and the exit once
 * it ends. Inside the sandbox the command is its own process group with its
 * pid in a file (sandbox-shell/group.ts), so `kill` reaches everything it started.
 * Backends without a local command (metered vendors) keep the process, its
 * group and its ring inside the sandbox instead (processes-remote.ts); the
 * directory here then holds the spec and, once seen, the end.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SandboxerError } from "../errors.js";
import { base32 } from "../ids.js";
import { isSameProcessAlive, processStartTime } from "../proc.js";
import { DEFAULT_SCRATCH, groupKillArgv, groupName, groupRunArgv, SIGNALS } from "../sandbox-shell/group.js";
import { DEFAULT_RING_BYTES, readRing, SUPERVISOR_JS } from "../sandbox-shell/ring.js";
import { runProcess } from "../transport/local.js";
import { getRow } from "./destroy.js";
import { inProcessRoom } from "./process-room.js";
import { remoteKill, remoteOutput, remoteRunning, startRemote } from "./processes-remote.js";
import type { Runtime } from "./runtime.js";
import { checkPath, type OpenSandbox, openSandbox } from "./sandbox-access.js";

export interface ProcessInfo {
  pid: string;
  argv: string[];
  service?: string;
  startedAt: string;
  endedAt: string | null;
  exitCode: number | null;
  signal: string | null;
  state: "running" | "exited" | "killed";
}

export interface ProcessOutput {
  data: string;
  offset: number;
  nextOffset: number;
  dropped: number;
  done: boolean;
  exitCode: number | null;
}

interface Spec {
  pid: string;
  argv: string[];
  service?: string;
  cwd?: string;
  startedAt: string;
  scratch: string;
  pidFile: string;
  ringBytes: number;
  /** The local command the supervisor runs (into the sandbox; `argv` is only shown). */
  local: string[];
}

export const PROCESS_ID_RE = /^proc-[a-z2-7]{10}$/;
const CD_THEN = 'cd -- "$1" || { echo "sandboxer: no directory $1" >&2; exit 127; }; shift; exec "$@"';
const TERMINATING = new Set(["TERM", "KILL", "INT", "HUP", "QUIT"]);

const procsDir = (rt: Runtime, id: string) => join(rt.paths.run, id, "procs");

function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as T;
  } catch {
    return null;
  }
}

function readJsonText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

/** `running`: what the sandbox said of a process kept there (processes-remote.ts). */
function info(dir: string, running = false): ProcessInfo | null {
  const spec = readJson<Spec & { remote?: true }>(join(dir, "spec.json"));
  if (!spec) return null;
  const exit = readJson<{ exitCode: number | null; signal: string | null; endedAt: string }>(join(dir, "exit.json"));
  const killed = readJson<{ signal: string }>(join(dir, "killed.json"));
  const sup = readJson<{ pid: number; start: string | null }>(join(dir, "supervisor.json"));
  const base = { pid: spec.pid, argv: spec.argv, ...(spec.service ? { service: spec.service } : {}), startedAt: spec.startedAt };
  if (exit) {
    return {
      ...base,
      endedAt: exit.endedAt,
      exitCode: exit.exitCode,
      signal: exit.signal ?? (killed ? `SIG${killed.signal}` : null),
      state: killed ? "killed" : "exited",
    };
  }
  if (spec.remote) return { ...base, endedAt: null, exitCode: null, signal: null, state: running ? "running" : killed ? "killed" : "exited" };
  if (sup && isSameProcessAlive(sup.pid, sup.start)) return { ...base, endedAt: null, exitCode: null, signal: null, state: "running" };
  // The supervisor is gone without a word (this machine rebooted, it was killed): the end is unknown.
  return { ...base, endedAt: null, exitCode: null, signal: null, state: killed ? "killed" : "exited" };
}

function dirOf(rt: Runtime, id: string, pid: string): string {
  if (!PROCESS_ID_RE.test(pid)) throw new SandboxerError("SBX_NOT_FOUND", `no process '${pid.slice(0, 40)}' in ${id}`, { details: { field: "pid" } });
  const dir = join(procsDir(rt, id), pid);
  if (!existsSync(join(dir, "spec.json")))
    throw new SandboxerError("SBX_NOT_FOUND", `no process '${pid}' in ${id} (see: sandboxer ps ${id})`, { details: { field: "pid" } });
  return dir;
}

async function waitFor(test: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (test()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return test();
}

export async function startProcess(
  rt: Runtime,
  id: string,
  argv: string[],
  opts: { service?: string; cwd?: string; ringBytes?: number } = {},
): Promise<ProcessInfo> {
  if (!Array.isArray(argv) || !argv.length || argv.some((a) => typeof a !== "string" || a.includes("\0"))) {
    throw new SandboxerError("SBX_USAGE", "argv: a command (one or more strings, no NUL) is required", { details: { field: "argv" } });
  }
  const cwd = opts.cwd === undefined ? undefined : checkPath(opts.cwd, "cwd");
  const ringBytes = opts.ringBytes ?? DEFAULT_RING_BYTES;
  if (!Number.isInteger(ringBytes) || ringBytes < 4096 || ringBytes > 256 * 1024 * 1024)
    throw new SandboxerError("SBX_INPUT_INVALID", "ringBytes: 4096 to 256 MiB", { details: { field: "ringBytes" } });
  const s = await openSandbox(rt, id, "processes", opts.service);
  const limit = rt.config().sessionLimits?.processes.perSandbox ?? 0;
  const running = async () => (await listProcesses(rt, id)).filter((p) => p.state === "running").length;
  return inProcessRoom(`${rt.paths.run}|${id}`, id, limit, running, () => startIn(rt, s, id, argv, cwd, ringBytes, opts.service));
}

async function startIn(
  rt: Runtime,
  s: OpenSandbox,
  id: string,
  argv: string[],
  cwd: string | undefined,
  ringBytes: number,
  service: string | undefined,
): Promise<ProcessInfo> {
  const opts = { service };
  if (!s.ext.sandboxCommand && s.ext.processes) {
    const spec = await startRemote(s, (p) => join(procsDir(rt, id), p), argv, { ...(cwd ? { cwd } : {}), ringBytes });
    const dir = join(procsDir(rt, id), spec.pid);
    return info(dir, (await remoteRunning(rt, id, new Map([[spec.pid, dir]]))).has(spec.pid)) as ProcessInfo;
  }
  const pid = `proc-${base32(10)}`;
  const scratch = s.ext.scratchDir?.(s.ctx, s.handle) ?? DEFAULT_SCRATCH;
  const pidFile = groupName(pid);
  const inner = cwd === undefined ? argv : ["sh", "-c", CD_THEN, "sh", cwd, ...argv];
  const local = await commandOf(s, groupRunArgv(scratch, pidFile, inner), opts.service);
  const dir = join(procsDir(rt, id), pid);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const spec: Spec = {
    pid,
    argv,
    ...(opts.service ? { service: opts.service } : {}),
    ...(cwd ? { cwd } : {}),
    startedAt: new Date().toISOString(),
    scratch,
    pidFile,
    ringBytes,
    local,
  };
  writeFileSync(join(dir, "spec.json"), JSON.stringify(spec), { mode: 0o600 });
  // Detached, its own session, no stdio of ours: it outlives the CLI or request that started it.
  const sup = spawn(process.execPath, ["-e", SUPERVISOR_JS, dir], { detached: true, stdio: "ignore", cwd: dir, env: supervisorEnv() });
  if (!sup.pid) throw new SandboxerError("SBX_EXEC_FAILED", `could not start the supervisor of ${pid}`);
  writeFileSync(join(dir, "supervisor.json"), JSON.stringify({ pid: sup.pid, start: processStartTime(sup.pid) }));
  sup.unref();
  await waitFor(() => existsSync(join(dir, "child.pid")) || existsSync(join(dir, "exit.json")), 5000);
  return info(dir) as ProcessInfo;
}

/** What ssh (compose, VM) needs to reach a host when no master is up; nothing else of ours. */
function supervisorEnv(): NodeJS.ProcessEnv {
  const keep = ["PATH", "HOME", "USER", "LOGNAME", "SSH_AUTH_SOCK"];
  return Object.fromEntries(keep.flatMap((k) => (process.env[k] ? [[k, process.env[k]]] : [])));
}

function commandOf(s: OpenSandbox, argv: string[], service: string | undefined): Promise<string[]> {
  const command = s.ext.sandboxCommand as NonNullable<OpenSandbox["ext"]["sandboxCommand"]>;
  return command.call(s.ext, s.ctx, s.handle, argv, { service, stdin: false });
}

/** Every detached process of a sandbox, oldest first (also after it was destroyed: the history stays). */
export async function listProcesses(rt: Runtime, id: string): Promise<ProcessInfo[]> {
  await getRow(rt, id);
  const root = procsDir(rt, id);
  if (!existsSync(root)) return [];
  const names = readdirSync(root).filter((n) => PROCESS_ID_RE.test(n));
  const remote = new Map(names.filter((n) => readJson<{ remote?: true }>(join(root, n, "spec.json"))?.remote).map((n) => [n, join(root, n)]));
  const live = remote.size ? await remoteRunning(rt, id, remote) : new Set<string>();
  const out: ProcessInfo[] = [];
  for (const name of names) {
    const i = info(join(root, name), live.has(name));
    if (i) out.push(i);
  }
  return out.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
}

export async function processOutput(rt: Runtime, id: string, pid: string, opts: { offset?: number; maxBytes?: number } = {}): Promise<ProcessOutput> {
  await getRow(rt, id);
  const dir = dirOf(rt, id, pid);
  const offset = opts.offset ?? 0;
  const maxBytes = opts.maxBytes ?? 64 * 1024;
  if (!Number.isSafeInteger(offset) || offset < 0)
    throw new SandboxerError("SBX_INPUT_INVALID", "offset: a byte offset >= 0", { details: { field: "offset" } });
  if (!Number.isInteger(maxBytes) || maxBytes < 1 || maxBytes > 16 * 1024 * 1024)
    throw new SandboxerError("SBX_INPUT_INVALID", "maxBytes: 1 to 16 MiB", { details: { field: "maxBytes" } });
  if (readJson<{ remote?: true }>(join(dir, "spec.json"))?.remote) return remoteOutput(rt, id, pid, dir, offset, maxBytes);
  // State first: output read after the end was seen is complete.
  const state = info(dir) as ProcessInfo;
  const r = readRing(join(dir, "output"), offset, maxBytes);
  const nextOffset = r.offset + r.data.length;
  return {
    data: r.data.toString("utf8"),
    offset: r.offset,
    nextOffset,
    dropped: r.dropped,
    done: state.state !== "running" && nextOffset >= r.total,
    exitCode: state.exitCode,
  };
}

export function normalSignal(signal: string | undefined): string {
  const s = (signal ?? "TERM").toUpperCase().replace(/^SIG/, "");
  if (!(SIGNALS as readonly string[]).includes(s))
    throw new SandboxerError("SBX_INPUT_INVALID", `signal: one of ${SIGNALS.join(", ")}`, { details: { field: "signal" } });
  return s;
}

export async function killProcess(rt: Runtime, id: string, pid: string, signal?: string): Promise<ProcessInfo> {
  const sig = normalSignal(signal);
  await getRow(rt, id);
  const dir = dirOf(rt, id, pid);
  if (readJson<{ remote?: true }>(join(dir, "spec.json"))?.remote) return killRemote(rt, id, pid, dir, sig);
  const before = info(dir) as ProcessInfo;
  // Ended with an exit recorded: nothing to signal. Ended without one (its supervisor died), the
  // command may still run inside the sandbox: its group is signalled all the same.
  if (before.state !== "running" && before.endedAt !== null) return before;
  const spec = readJson<Spec>(join(dir, "spec.json")) as Spec;
  if (TERMINATING.has(sig)) writeFileSync(join(dir, "killed.json"), JSON.stringify({ signal: sig, at: new Date().toISOString() }));
  const s = await openSandbox(rt, id, "processes", spec.service).catch(() => null);
  let reached = false;
  if (s) {
    const argv = await commandOf(s, groupKillArgv(spec.scratch, spec.pidFile, sig), spec.service);
    // Right after a start, on a busy machine, the wrapper may not have written its pid file yet (exit 3):
    // ask again while the process runs, rather than miss it and leave it running.
    const until = Date.now() + 10_000;
    for (;;) {
      const res = await runProcess(argv, { timeoutMs: 30_000 }).catch(() => null);
      reached = res?.code === 0;
      if (reached || res?.code !== 3 || before.state !== "running" || info(dir)?.state !== "running" || Date.now() > until) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  if (!reached && TERMINATING.has(sig) && before.state === "running") {
    // The group is not there (yet) or the sandbox cannot be reached: end the local command at least
    // (only while its supervisor lives: after that its pid may belong to someone else).
    const child = Number(readJsonText(join(dir, "child.pid")));
    if (child) {
      try {
        process.kill(child, `SIG${sig}` as NodeJS.Signals);
      } catch {}
    }
  }
  if (TERMINATING.has(sig) && before.state === "running") await waitFor(() => existsSync(join(dir, "exit.json")), sig === "KILL" ? 5000 : 2000);
  return info(dir) as ProcessInfo;
}

/** kill of a process kept in the sandbox: its group is signalled there, and a terminating signal is waited for. */
async function killRemote(rt: Runtime, id: string, pid: string, dir: string, sig: string): Promise<ProcessInfo> {
  const one = new Map([[pid, dir]]);
  if (!(await remoteRunning(rt, id, one)).has(pid)) return info(dir) as ProcessInfo;
  if (TERMINATING.has(sig)) writeFileSync(join(dir, "killed.json"), JSON.stringify({ signal: sig, at: new Date().toISOString() }));
  await remoteKill(rt, id, pid, sig);
  let running = true;
  const until = Date.now() + (TERMINATING.has(sig) ? 5000 : 0);
  do {
    running = (await remoteRunning(rt, id, one)).has(pid);
    if (running && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
  } while (running && Date.now() < until);
  return info(dir, running) as ProcessInfo;
}
