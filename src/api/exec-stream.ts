/**
 * `POST /v1/sandboxes/{id}/exec` with `stream: true`: output as Server-Sent
 * Events while the command runs (`stdout`/`stderr` events, data `{data}`
 * text), then one `exit` event, or `error` when exec itself failed. A client
 * slower than the command gets at most STREAM_BACKLOG bytes queued; the rest
 * is dropped and the `exit` event says `truncated`.
 */
import { StringDecoder } from "node:string_decoder";
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { Broker } from "../broker.js";
import { toSandboxerError } from "../errors.js";
import type { ExecOptions } from "../broker.js";
import type { Slot } from "./session-caps.js";

const STREAM_BACKLOG = 8 * 1024 * 1024;

/** `held`: the exec's session slot, given back when the command has ended (src/api/session-caps.ts). */
export function streamExec(c: Context, broker: Broker, id: string, argv: string[], opts: ExecOptions, shutdown: AbortSignal, held: Slot): Response {
  c.header("X-Accel-Buffering", "no");
  return streamSSE(c, async (stream) => {
    const decoders = { stdout: new StringDecoder("utf8"), stderr: new StringDecoder("utf8") };
    let queue = Promise.resolve();
    let pending = 0;
    let dropped = false;
    const send = (event: string, data: unknown, size = 0) => {
      pending += size;
      queue = queue.then(async () => {
        if (!stream.aborted) await stream.writeSSE({ event, data: JSON.stringify(data) });
        pending -= size;
      });
    };
    const onOutput = (which: "stdout" | "stderr", chunk: Buffer) => {
      if (pending + chunk.length > STREAM_BACKLOG) {
        dropped = true;
        return;
      }
      const text = decoders[which].write(chunk);
      if (text) send(which, { data: text }, chunk.length);
    };
    // The command is stopped when its client leaves (opts.signal: the request's) or the stream
    // is cut (server shutdown, a write that failed): nobody would read what it says.
    const leave = new AbortController();
    const stop = () => stream.abort();
    shutdown.addEventListener("abort", stop, { once: true });
    stream.onAbort(() => leave.abort());
    const signal = opts.signal ? AbortSignal.any([opts.signal, leave.signal]) : leave.signal;
    try {
      const r = await broker.exec(id, argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe" }, { ...opts, onOutput, signal });
      for (const which of ["stdout", "stderr"] as const) {
        const rest = decoders[which].end();
        if (rest) send(which, { data: rest });
      }
      send("exit", { exitCode: r.exitCode, timedOut: r.timedOut ?? false, truncated: dropped || (r.truncated ?? false) });
    } catch (e) {
      const err = toSandboxerError(e);
      send("error", { code: err.code, message: err.code === "SBX_INTERNAL" ? "internal error; see the server log" : err.message });
    } finally {
      held.release();
      shutdown.removeEventListener("abort", stop);
      await queue;
    }
  });
}
