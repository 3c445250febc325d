import { spawn } from "node:child_process";
import { constants } from "node:os";
import { Readable } from "node:stream";
import { SandboxerError } from "../errors.js";
import type { ExecIo, ExecResult } from "./define.js";
import { killUntilEnded, stoppedResult, watchStop } from "./exec-stop.js";

/** Bytes of stdout (and of stderr) kept when output is captured rather than passed through. */
export const EXEC_CAPTURE_LIMIT = 8 * 1024 * 1024;

/**
 * One output stream of an exec: written through to our own stdout/stderr as it
 * arrives (inherit), or kept up to EXEC_CAPTURE_LIMIT bytes (pipe, for --json
 * and the API) so a chatty command cannot exhaust memory. Every extension's
 * exec collects through this, whatever carries the bytes (a pipe, a vendor stream).
 */
export class ExecOutput {
  private readonly kept: Buffer[] = [];
  private size = 0;
  truncated = false;

  constructor(
    private readonly mode: ExecIo["stdout"],
    private readonly to: NodeJS.WritableStream,
    /** Sees every chunk as it arrives (streaming exec), whatever the mode. */
    private readonly onChunk?: (chunk: Buffer) => void,
  ) {}

  /** For inherit, resolves once the chunk is written: awaiting it gives the source backpressure. */
  push(chunk: Uint8Array | string): Promise<void> | undefined {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (bytes.length) this.onChunk?.(bytes);
    if (this.mode === "inherit") {
      if (!bytes.length) return undefined;
      return new Promise((resolve, reject) => this.to.write(bytes, (err) => (err ? reject(err) : resolve())));
    }
    const room = EXEC_CAPTURE_LIMIT - this.size;
    if (bytes.length > room) this.truncated = true;
    if (room > 0) {
      const part = Buffer.from(bytes.subarray(0, Math.min(bytes.length, room)));
      this.kept.push(part);
      this.size += part.length;
    }
    return undefined;
  }

  /** What was kept (pipe), or undefined when the output went through (inherit). */
  get text(): string | undefined {
    return this.mode === "pipe" ? Buffer.concat(this.kept).toString("utf8") : undefined;
  }
}

/** The result for an exit code and the two streams, with only the fields that apply. */
export function execResult(exitCode: number, out: ExecOutput, err: ExecOutput): ExecResult {
  return {
    exitCode,
    ...(out.text !== undefined ? { stdout: out.text } : {}),
    ...(err.text !== undefined ? { stderr: err.text } : {}),
    ...(out.truncated || err.truncated ? { truncated: true } : {}),
  };
}

/** What `spawnExec` adds to plain stdio choices (the API's stdin and streaming, `--timeout`, a caller that leaves). */
export interface SpawnExtras {
  stdin?: Readable | Buffer | undefined;
  onOutput?: ((stream: "stdout" | "stderr", chunk: Buffer) => void) | undefined;
  timeoutMs?: number | undefined;
  /** Aborted when the caller went away: the command is stopped as on a timeout. */
  signal?: AbortSignal | undefined;
  /**
   * Kills the command's process group where it runs (on a timeout or a cancel); tried again
   * until the command ends, then the local child is SIGKILLed. Without it, the local child is.
   */
  stopGroup?: () => Promise<void>;
}

export { TIMEOUT_EXIT } from "./exec-stop.js";

/**
 * Run the local argv that reaches into a sandbox (nsenter, `ssh host podman exec`,
 * `ssh vm sh -c 'cd ws && exec …'`) with the caller's stdio choices; inherited
 * streams are the child's own, piped ones are collected by ExecOutput.
 * A command killed by a signal reports 128 + its number, as shells do.
 */
export function spawnExec(argv: readonly string[], io: ExecIo, extras: SpawnExtras = {}): Promise<ExecResult> {
  const [cmd, args] = [argv[0], argv.slice(1)];
  if (!cmd) return Promise.reject(new SandboxerError("SBX_INTERNAL", "empty argv"));
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [extras.stdin ? "pipe" : io.stdin, io.stdout, io.stderr] });
    const out = new ExecOutput(io.stdout, process.stdout, extras.onOutput && ((c) => extras.onOutput?.("stdout", c)));
    const err = new ExecOutput(io.stderr, process.stderr, extras.onOutput && ((c) => extras.onOutput?.("stderr", c)));
    child.stdout?.on("data", (d: Buffer) => out.push(d));
    child.stderr?.on("data", (d: Buffer) => err.push(d));
    if (extras.stdin && child.stdin) {
      const src = Buffer.isBuffer(extras.stdin) ? Readable.from([extras.stdin]) : extras.stdin;
      // A command that exits without reading all its input closes the pipe: not an error of ours.
      child.stdin.on("error", () => {});
      src.on("error", () => child.stdin?.end());
      src.pipe(child.stdin);
    }
    const ended = new Promise<void>((done) => {
      child.once("close", () => done());
      child.once("error", () => done());
    });
    const force = () => child.kill("SIGKILL");
    const stopGroup = extras.stopGroup;
    // Timeout and cancel are two triggers of one stop: the group inside the sandbox, then the local child.
    const watch = watchStop(extras, () => {
      if (!stopGroup) return void force();
      void killUntilEnded(stopGroup, ended).then((done) => done || force());
    });
    child.on("error", (e) => {
      watch.clear();
      reject(new SandboxerError("SBX_DEPENDENCY_MISSING", `${cmd}: ${e.message}`, { cause: e }));
    });
    child.on("close", (code, signal) => {
      watch.clear();
      resolve(stoppedResult(execResult(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 1), out, err), watch.reason));
    });
  });
}
