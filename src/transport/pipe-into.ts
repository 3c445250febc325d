/**
 * An upload whose bytes come from a command on this host (the CLI's `tar -c`)
 * runs as one pipeline: producer | dd | consumer (the consumer being the
 * argv that runs inside a sandbox: nsenter, `ssh ... podman exec`). The bytes
 * go from pipe to pipe in the kernel, never through node. GNU dd counts them
 * and stops after `limit + 1`, so an upload past the limit is cut there and
 * reported; it runs on this host, where the sandbox cannot reach it.
 */
import { spawn } from "node:child_process";
import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { SandboxerError } from "../errors.js";
import { shellJoin } from "./quote.js";
import type { RunResult } from "./types.js";

export interface PipedResult extends RunResult {
  /** Bytes the consumer was given (at most limit + 1). */
  bytes: number;
  /** The producer's exit status (141 when the cut at the limit stopped it). */
  producerCode: number;
  /** The tail of the producer's stderr. */
  producerStderr: string;
}

/*
 * $1 bytes to pass at most, $2 the producer as quoted shell words (shellJoin), then the consumer's argv.
 * fd 3 reports to us: the producer's status line and dd's summary. The consumer never sees fd 3,
 * the producer's stderr goes to fd 4.
 */
const SCRIPT = [
  "n=$1; p=$2; shift 2",
  '{ eval "$p" 2>&4 3>&- 4>&-; echo "producer $?" >&3; } | LC_ALL=C dd bs=1M iflag=fullblock,count_bytes count="$n" 2>&3 3>&- 4>&- | "$@" 3>&- 4>&-',
].join("\n");

const KEEP = 8192;

export function pipeInto(
  producer: readonly string[],
  consumer: readonly string[],
  opts: { limit: number; stdout?: Writable; signal?: AbortSignal },
): Promise<PipedResult> {
  const child = spawn("sh", ["-c", SCRIPT, "sandboxer-pipe", String(opts.limit + 1), shellJoin(producer), ...consumer], {
    stdio: ["ignore", opts.stdout ? "pipe" : "ignore", "pipe", "pipe", "pipe"],
  });
  let stderr = "";
  let report = "";
  let producerStderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString("utf8")).slice(-KEEP);
  });
  (child.stdio[3] as Readable).on("data", (d: Buffer) => {
    report = (report + d.toString("utf8")).slice(-KEEP);
  });
  (child.stdio[4] as Readable).on("data", (d: Buffer) => {
    producerStderr = (producerStderr + d.toString("utf8")).slice(-KEEP);
  });
  const stop = () => child.kill("SIGTERM");
  opts.signal?.addEventListener("abort", stop, { once: true });
  const exited = new Promise<PipedResult>((resolve, reject) => {
    child.on("error", (err) => reject(new SandboxerError("SBX_INTERNAL", `sh: ${err.message}`, { cause: err })));
    child.on("close", (code, signal) => {
      const bytes = /^(\d+) bytes/m.exec(report);
      const made = /^producer (\d+)$/m.exec(report);
      if (!bytes || !made) {
        reject(
          new SandboxerError(
            "SBX_DEPENDENCY_MISSING",
            `the upload pipeline did not report (GNU coreutils dd needed on this host): ${(stderr || report).trim().slice(-300)}`,
          ),
        );
        return;
      }
      resolve({ code: code ?? 128, signal, stdout: "", stderr, bytes: Number(bytes[1]), producerCode: Number(made[1]), producerStderr });
    });
  });
  const flows: Promise<unknown>[] = [exited];
  if (opts.stdout && child.stdout) flows.push(pipeline(child.stdout, opts.stdout));
  return Promise.all(flows)
    .then(
      ([r]) => r as PipedResult,
      (err) => {
        child.kill("SIGKILL");
        throw err;
      },
    )
    .finally(() => opts.signal?.removeEventListener("abort", stop));
}

/**
 * The stdout of a local command as a stream, started only when first read.
 * An upload that can run the command in one pipeline with the sandbox's side
 * (pipeInto) takes `argv` and never reads this; anything else (a remote
 * broker, a vendor API) reads it like any stream. A failing command fails it.
 */
export class LocalCommandOutput extends Readable {
  private started = false;
  constructor(readonly argv: readonly string[]) {
    super();
  }
  override _read(): void {
    if (this.started) return;
    this.started = true;
    const child = spawn(this.argv[0] as string, this.argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr?.on("data", (d: Buffer) => {
      err = (err + d.toString()).slice(-2000);
    });
    child.on("error", (e) => this.destroy(new SandboxerError("SBX_DEPENDENCY_MISSING", `${this.argv[0]}: ${e.message}`, { cause: e })));
    const out = child.stdout as Readable;
    out.on("data", (d: Buffer) => {
      if (!this.push(d)) out.pause();
    });
    this._read = () => {
      out.resume();
    };
    child.on("close", (code) => {
      if (code === 0) this.push(null);
      else this.destroy(new SandboxerError("SBX_EXEC_FAILED", `${this.argv[0]} exited ${code}: ${err.trim().slice(-400)}`));
    });
    this.once("close", () => {
      if (child.exitCode === null) child.kill("SIGTERM");
    });
  }
}
