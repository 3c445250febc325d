/**
 * Detached processes whose process, group and output live inside the
 * sandbox (extensions with `processes` methods and no `sandboxCommand`: the
 * metered vendors). This side keeps what processes.ts keeps for every
 * process (spec.json, killed.json, exit.json once the end is known), so `ps`
 * and the history read the same; the state while it runs and the output come
 * from the sandbox. After the sandbox is gone, its output is gone with it.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SandboxerError } from "../errors.js";
import type { RemoteProcessState } from "../extensions/define.js";
import { base32 } from "../ids.js";
import type { ProcessOutput } from "./processes.js";
import type { Runtime } from "./runtime.js";
import { type OpenSandbox, openSandbox } from "./sandbox-access.js";

/** What spec.json holds for a process kept in the sandbox. */
export interface RemoteSpec {
  pid: string;
  argv: string[];
  cwd?: string;
  startedAt: string;
  ringBytes: number;
  remote: true;
}

/** Each read answers at most this much: the bytes travel base64 in a command's captured output. */
const MAX_READ = 4 * 1024 * 1024;

const ops = (s: OpenSandbox) => {
  const p = s.ext.processes;
  if (!p) throw new SandboxerError("SBX_UNSUPPORTED", `${s.row.extension} does not offer detached processes for its sandboxes`);
  return p;
};

/** Not a SandboxerError from the extension: the sandbox could not be asked (SBX_EXEC_FAILED naming the process). */
function asked(pid: string, what: string, err: unknown): SandboxerError {
  if (err instanceof SandboxerError) return err;
  return new SandboxerError("SBX_EXEC_FAILED", `${what} ${pid}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

export async function startRemote(
  s: OpenSandbox,
  dirOf: (pid: string) => string,
  argv: string[],
  opts: { cwd?: string; ringBytes: number },
): Promise<RemoteSpec> {
  const pid = `proc-${base32(10)}`;
  const dir = dirOf(pid);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const spec: RemoteSpec = { pid, argv, ...(opts.cwd ? { cwd: opts.cwd } : {}), startedAt: new Date().toISOString(), ringBytes: opts.ringBytes, remote: true };
  writeFileSync(join(dir, "spec.json"), JSON.stringify(spec), { mode: 0o600 });
  try {
    await ops(s).start(s.ctx, s.handle, pid, argv, { ...(opts.cwd ? { cwd: opts.cwd } : {}), ringBytes: opts.ringBytes });
  } catch (err) {
    // Not started: no trace of it on this side either.
    rmSync(dir, { recursive: true, force: true });
    throw asked(pid, "starting", err);
  }
  return spec;
}

/** Record an end the sandbox reported, once: later reads (also after the sandbox is gone) come from here. */
function settle(dir: string, st: RemoteProcessState): void {
  if (st.state === "running" || existsSync(join(dir, "exit.json"))) return;
  writeFileSync(join(dir, "exit.json"), JSON.stringify({ exitCode: st.exitCode, signal: null, endedAt: st.endedAt ?? new Date().toISOString() }));
}

/**
 * Which of these processes (dir by pid) still run, as the sandbox says; the
 * ended ones are settled on the way. A sandbox that is not ready any more
 * runs none of them.
 */
export async function remoteRunning(rt: Runtime, id: string, dirs: Map<string, string>): Promise<Set<string>> {
  const open = [...dirs].filter(([, dir]) => !existsSync(join(dir, "exit.json")));
  if (!open.length) return new Set();
  const s = await openSandbox(rt, id, "processes").catch(() => null);
  if (!s) return new Set();
  const states = await ops(s)
    .state(
      s.ctx,
      s.handle,
      open.map(([pid]) => pid),
    )
    .catch((err: unknown) => {
      throw asked(open.map(([p]) => p).join(", "), "reading the state of", err);
    });
  const running = new Set<string>();
  for (const [pid, dir] of open) {
    const st = states[pid] ?? { state: "lost" as const, exitCode: null, endedAt: null };
    if (st.state === "running") running.add(pid);
    else settle(dir, st);
  }
  return running;
}

export async function remoteOutput(rt: Runtime, id: string, pid: string, dir: string, offset: number, maxBytes: number): Promise<ProcessOutput> {
  const s = await openSandbox(rt, id, "processes").catch(() => null);
  const r = s
    ? await ops(s)
        .output(s.ctx, s.handle, pid, offset, Math.min(maxBytes, MAX_READ))
        .catch((err: unknown) => Promise.reject(asked(pid, "reading the output of", err)))
    : null;
  if (!r) {
    // The sandbox (and the output with it) is gone: what is known here is the end, if it was seen.
    const exit = existsSync(join(dir, "exit.json")) ? (JSON.parse(readFileSync(join(dir, "exit.json"), "utf8")) as { exitCode: number | null }) : null;
    return { data: "", offset, nextOffset: offset, dropped: 0, done: true, exitCode: exit?.exitCode ?? null };
  }
  settle(dir, r.state);
  const nextOffset = r.offset + r.data.length;
  return {
    data: r.data.toString("utf8"),
    offset: r.offset,
    nextOffset,
    dropped: r.dropped,
    done: r.state.state !== "running" && nextOffset >= r.total,
    exitCode: r.state.exitCode,
  };
}

/** Signal the group in the sandbox; true when it was there to signal. */
export async function remoteKill(rt: Runtime, id: string, pid: string, signal: string): Promise<boolean> {
  const s = await openSandbox(rt, id, "processes").catch(() => null);
  if (!s) return false;
  return ops(s)
    .kill(s.ctx, s.handle, pid, signal)
    .catch((err: unknown) => Promise.reject(asked(pid, "signalling", err)));
}
