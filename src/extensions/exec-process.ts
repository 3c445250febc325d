import { spawn } from "node:child_process";
import { constants } from "node:os";
import { SandboxerError } from "../errors.js";
import type { ExecIo, ExecResult } from "./define.js";

/** Bytes of stdout (and of stderr) kept when output is captured rather than passed through. */
export const EXEC_CAPTURE_LIMIT = 8 * 1024 * 1024;

/**
 * Run the local argv that reaches into a sandbox (nsenter, `ssh host podman exec`,
 * `ssh vm sh -c 'cd ws && exec …'`) with the caller's stdio choices. Captured
 * output (--json, the API) is capped so a chatty command cannot exhaust memory.
 * A command killed by a signal reports 128 + its number, as shells do.
 */
export function spawnExec(argv: readonly string[], io: ExecIo): Promise<ExecResult> {
  const [cmd, ...args] = argv;
  if (!cmd) return Promise.reject(new SandboxerError("SBX_INTERNAL", "empty argv"));
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [io.stdin, io.stdout, io.stderr] });
    let stdout = "";
    let stderr = "";
    let truncated = false;
    const keep = (cur: string, d: Buffer) => {
      if (cur.length + d.length <= EXEC_CAPTURE_LIMIT) return cur + d.toString();
      truncated = true;
      return cur + d.subarray(0, Math.max(0, EXEC_CAPTURE_LIMIT - cur.length)).toString();
    };
    child.stdout?.on("data", (d: Buffer) => {
      stdout = keep(stdout, d);
    });
    child.stderr?.on("data", (d: Buffer) => {
      stderr = keep(stderr, d);
    });
    child.on("error", (err) => reject(new SandboxerError("SBX_DEPENDENCY_MISSING", `${cmd}: ${err.message}`, { cause: err })));
    child.on("close", (code, signal) => resolve({ exitCode: code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 1), stdout, stderr, ...(truncated ? { truncated } : {}) }));
  });
}
