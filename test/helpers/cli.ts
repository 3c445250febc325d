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

/** Run the built CLI (`make build` first; vitest's globalSetup builds it). */
export function runCli(args: string[], env: Env, opts: { input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(CLI, args, { env: env as NodeJS.ProcessEnv, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 137, stdout, stderr, json: <T>() => JSON.parse(stdout) as T });
    });
    child.stdin.end(opts.input ?? "");
  });
}

/** Start the CLI and hand back the process, for kill -9 tests. */
export function spawnCli(args: string[], env: Env): ChildProcess {
  return spawn(CLI, args, { env: env as NodeJS.ProcessEnv, stdio: ["ignore", "pipe", "pipe"] });
}
