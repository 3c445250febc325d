import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import type { Env } from "../../src/config.js";

export const CLI = join(import.meta.dirname, "..", "..", "bin", "sandboxer");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json<T = unknown>(): T;
}

/** Collect a started CLI's output; SIGKILL it after `timeoutMs`. */
export function collect(child: ChildProcess, timeoutMs: number, input = ""): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 137, stdout, stderr, json: <T>() => JSON.parse(stdout) as T });
    });
    // A CLI that exits before reading all its input (a refused upload) closes the pipe: not a test failure.
    child.stdin?.on("error", () => {});
    child.stdin?.end(input);
  });
}

/**
 * Run the CLI: the built `bin/sandboxer` (vitest's globalSetup builds it), or
 * with `cli` a private bundle's `cli.js` run by this node.
 */
export function runCli(args: string[], env: Env, opts: { input?: string; timeoutMs?: number; cli?: string; asUid?: number } = {}): Promise<CliResult> {
  let [cmd, argv] = opts.cli ? [process.execPath, [opts.cli, ...args]] : [CLI, args];
  // As another (unprivileged) user: util-linux setpriv drops root for this one process.
  if (opts.asUid !== undefined) [cmd, argv] = ["setpriv", [`--reuid=${opts.asUid}`, `--regid=${opts.asUid}`, "--clear-groups", "--", cmd, ...argv]];
  const child = spawn(cmd, argv, { env: env as NodeJS.ProcessEnv, stdio: ["pipe", "pipe", "pipe"] });
  return collect(child, opts.timeoutMs ?? 60_000, opts.input);
}

/** Start the CLI and hand back the process, for kill -9 tests. */
export function spawnCli(args: string[], env: Env): ChildProcess {
  return spawn(CLI, args, { env: env as NodeJS.ProcessEnv, stdio: ["ignore", "pipe", "pipe"] });
}
