/**
 * `exec` through the pods/exec API: a WebSocket speaking the channel protocol
 * (v5.channel.k8s.io, v4 when that is all the server has), argv as the
 * `command` parameters (no shell), stdout and stderr on their own channels
 * into ExecOutput (so captured output is capped as for every backend, and
 * handed on as it arrives when the caller streams), stdin from the API's body
 * or the terminal, and the exit code from the Status JSON on the error channel.
 */
import { Readable, Writable } from "node:stream";
import { finished } from "node:stream/promises";
import { SandboxerError } from "../../errors.js";
import type { ExecIo, ExecOptions, ExecResult } from "../define.js";
import { ExecOutput, execResult } from "../exec-process.js";
import type { Cluster } from "./client.js";
import { apiError } from "./errors.js";

interface ExecStatus {
  status?: string;
  reason?: string;
  message?: string;
  details?: { causes?: { reason?: string; message?: string }[] };
}

/** The command's exit code from the final Status, or why it never ran (pure). */
export function exitCodeOf(s: ExecStatus): number | { error: string } {
  if (s.status === "Success") return 0;
  const cause = s.details?.causes?.find((c) => c.reason === "ExitCode");
  if (s.reason === "NonZeroExitCode" && cause?.message && /^\d+$/.test(cause.message)) return Number(cause.message);
  return { error: s.message || s.reason || "exec failed" };
}

/** A Writable that hands each chunk to an ExecOutput (awaiting it when output passes through). */
function sink(out: ExecOutput): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      const p = out.push(chunk);
      if (p) p.then(() => done(), done);
      else done();
    },
  });
}

export interface ExecTarget {
  cluster: Cluster;
  namespace: string;
  pod: string;
  container: string | undefined;
}

/** What an exec adds to plain stdio: the API's stdin bytes, and each chunk of output as it comes (streaming). */
export type PodExecExtras = Pick<ExecOptions, "stdin" | "onOutput">;

export async function execInPod(t: ExecTarget, argv: string[], io: ExecIo, extras: PodExecExtras = {}): Promise<ExecResult> {
  const { onOutput } = extras;
  const out = new ExecOutput(io.stdout, process.stdout, onOutput && ((c) => onOutput("stdout", c)));
  const err = new ExecOutput(io.stderr, process.stderr, onOutput && ((c) => onOutput("stderr", c)));
  // Given bytes go on the stdin channel and are closed after them (v5 sends the close frame: the command sees EOF).
  const stdin =
    extras.stdin !== undefined ? (Buffer.isBuffer(extras.stdin) ? Readable.from([extras.stdin]) : extras.stdin) : io.stdin === "inherit" ? process.stdin : null;
  const stdout = sink(out);
  const stderr = sink(err);
  const attempt = { cluster: t.cluster.name, server: t.cluster.server, verb: "create", resource: "pods/exec", namespace: t.namespace };
  let status: ExecStatus | undefined;
  let ws: Awaited<ReturnType<Cluster["exec"]["exec"]>>;
  try {
    // client-node's container parameter is a string; "" leaves it out for single-container pods.
    ws = await t.cluster.exec.exec(t.namespace, t.pod, t.container ?? "", argv, stdout, stderr, stdin, false, (s) => {
      status = s as ExecStatus;
    });
  } catch (e) {
    throw apiError(e, attempt, "SBX_EXEC_FAILED");
  }
  await new Promise<void>((resolve) => {
    if (ws.readyState === ws.CLOSED) return resolve();
    ws.on("close", () => resolve());
  });
  if (io.stdin === "inherit") process.stdin.pause();
  if (!status)
    throw new SandboxerError("SBX_EXEC_FAILED", `cluster '${t.cluster.name}': the exec stream to pod ${t.namespace}/${t.pod} closed without an exit status`);
  // The Status ends both streams; wait until what they carried is written.
  await Promise.all([finished(stdout), finished(stderr)]);
  const code = exitCodeOf(status);
  if (typeof code !== "number") throw new SandboxerError("SBX_EXEC_FAILED", `pod ${t.namespace}/${t.pod}: ${code.error}`);
  return execResult(code, out, err);
}
