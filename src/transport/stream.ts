import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import type { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { SandboxerError } from "../errors.js";
import type { RunResult } from "./types.js";

/** Options of `Transport.stream`: bytes in and out, never buffered whole in memory. */
export interface StreamOptions {
  /** Piped into the command's stdin (then closed); none = stdin is /dev/null. */
  stdin?: Readable;
  /** A local file given to the command as its stdin fd directly: no copy through node (takes precedence over `stdin`). */
  stdinFile?: string;
  /** Receives the command's stdout; `stream` resolves only after it has finished. */
  stdout?: Writable;
  signal?: AbortSignal;
}

const STDERR_KEEP = 8192;

/**
 * A Writable backed by a file the command may write to itself: its stdout
 * becomes that file's descriptor, so the bytes never pass through node (a
 * workspace archive: what keeps `snapshot` at the raw `tar | zstd > file`'s
 * speed). The Writable is ended once the command exits, and finishes its own
 * bookkeeping (the archive's digest) from the file.
 */
export interface FileBackedWritable extends Writable {
  fileDescriptor(): Promise<number>;
}

function fileBacked(w: Writable | undefined): w is FileBackedWritable {
  return typeof (w as Partial<FileBackedWritable> | undefined)?.fileDescriptor === "function";
}

/**
 * Spawn argv without a shell and stream stdin/stdout through node streams with
 * back-pressure. Resolves with the exit status once the process has exited and
 * `stdout` has been flushed; stderr is kept (its tail) for error messages.
 * Shared by the local transport and, wrapped in `ssh ... --`, by remote ones.
 */
export async function streamProcess(argv: readonly string[], opts: StreamOptions = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (!cmd) throw new SandboxerError("SBX_INTERNAL", "empty argv");
  const out = opts.stdout;
  const outFd = fileBacked(out) ? await out.fileDescriptor() : null;
  const fd = opts.stdinFile ? openSync(opts.stdinFile, "r") : null;
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(cmd, args, { stdio: [fd ?? (opts.stdin ? "pipe" : "ignore"), outFd ?? (out ? "pipe" : "ignore"), "pipe"] });
  } finally {
    // The child holds its own copy of the descriptor.
    if (fd !== null) closeSync(fd);
  }
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString("utf8")).slice(-STDERR_KEEP);
  });
  const stop = () => child.kill("SIGTERM");
  opts.signal?.addEventListener("abort", stop, { once: true });
  const exited = new Promise<RunResult>((resolve, reject) => {
    child.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") reject(new SandboxerError("SBX_DEPENDENCY_MISSING", `${cmd} is not installed or not on PATH`, { cause: err }));
      else reject(new SandboxerError("SBX_INTERNAL", `${cmd}: ${err.message}`, { cause: err }));
    });
    child.on("close", (code, signal) => resolve({ code: code ?? 128, signal, stdout: "", stderr }));
  });
  const flows: Promise<unknown>[] = [exited];
  if (fd === null && opts.stdin && child.stdin) {
    // A command that exits early closes its stdin (EPIPE): its exit status tells the story.
    flows.push(pipeline(opts.stdin, child.stdin).catch(() => {}));
  }
  if (out && outFd !== null) {
    // The command wrote the file itself: once it has exited, the Writable finishes from the file.
    flows.push(
      exited.then(() => new Promise<void>((resolve, reject) => out.once("error", reject).end((err?: Error | null) => (err ? reject(err) : resolve())))),
    );
  } else if (out && child.stdout) flows.push(pipeline(child.stdout, out));
  return Promise.all(flows)
    .then(
      ([result]) => result as RunResult,
      (err) => {
        child.kill("SIGKILL");
        throw err;
      },
    )
    .finally(() => opts.signal?.removeEventListener("abort", stop));
}
