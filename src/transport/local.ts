import { spawn } from "node:child_process";
import { SandboxerError } from "../errors.js";
import { LOCALHOST } from "../types.js";
import { streamProcess } from "./stream.js";
import type { RunOptions, RunResult, Transport } from "./types.js";

/** Spawn argv without a shell, collect output, honour abort and timeout. */
export function runProcess(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (!cmd) return Promise.reject(new SandboxerError("SBX_INTERNAL", "empty argv"));
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    const partial = { stdout: "", stderr: "" };
    const collect = (stream: "stdout" | "stderr") => (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      if (stream === "stdout") stdout += text;
      else stderr += text;
      if (opts.onLine) {
        const lines = (partial[stream] + text).split("\n");
        partial[stream] = lines.pop() ?? "";
        for (const line of lines) opts.onLine(line, stream);
      }
    };
    child.stdout?.on("data", collect("stdout"));
    child.stderr?.on("data", collect("stderr"));
    let killTimer: NodeJS.Timeout | undefined;
    const stop = () => {
      child.kill("SIGTERM");
      killTimer = setTimeout(() => child.kill("SIGKILL"), 3000);
      killTimer.unref();
    };
    const timer = opts.timeoutMs ? setTimeout(stop, opts.timeoutMs) : undefined;
    opts.signal?.addEventListener("abort", stop, { once: true });
    child.on("error", (err: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer);
      if (err.code === "ENOENT") reject(new SandboxerError("SBX_DEPENDENCY_MISSING", `${cmd} is not installed or not on PATH`, { cause: err }));
      else reject(new SandboxerError("SBX_INTERNAL", `${cmd}: ${err.message}`, { cause: err }));
    });
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      opts.signal?.removeEventListener("abort", stop);
      if (opts.onLine) {
        for (const s of ["stdout", "stderr"] as const) if (partial[s]) opts.onLine(partial[s], s);
      }
      resolve({ code: code ?? 128, signal, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

export function localTransport(): Transport {
  return {
    host: LOCALHOST,
    run: runProcess,
    stream: streamProcess,
    close: async () => {},
  };
}
