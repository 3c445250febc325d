import { MessageChannel, receiveMessageOnPort, Worker } from "node:worker_threads";
import { SandboxerError } from "../errors.js";

export interface SyncResponse {
  status: number;
  body: string;
}

/*
 * The worker does the fetch; the calling thread sleeps on a shared int until
 * it is done. Plain CommonJS evaluated from a string so bundling never has to
 * find a worker file on disk.
 */
const WORKER = `
const { parentPort } = require("node:worker_threads");
parentPort.on("message", async ({ url, init, port, flag, timeoutMs }) => {
  let reply;
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    reply = { status: res.status, body: await res.text() };
  } catch (err) {
    reply = { error: String((err && err.cause && err.cause.code) || (err && err.message) || err) };
  }
  port.postMessage(reply);
  port.close();
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
});
`;

/**
 * Blocking HTTP for the few broker methods that are synchronous in-process
 * (get, list, events, config): the CLI's commands call them without await, and
 * the remote broker must keep that shape.
 */
export class SyncFetcher {
  private worker: Worker | undefined;

  constructor(private readonly timeoutMs = 30_000) {}

  request(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): SyncResponse {
    this.worker ??= new Worker(WORKER, { eval: true });
    this.worker.unref();
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const { port1, port2 } = new MessageChannel();
    this.worker.postMessage({ url, init, port: port2, flag, timeoutMs: this.timeoutMs }, [port2]);
    if (Atomics.wait(flag, 0, 0, this.timeoutMs + 5000) === "timed-out") {
      port1.close();
      throw new SandboxerError("SBX_HOST_UNREACHABLE", `no answer from ${new URL(url).origin} within ${this.timeoutMs / 1000}s`);
    }
    const msg = receiveMessageOnPort(port1)?.message as (SyncResponse & { error?: string }) | undefined;
    port1.close();
    if (!msg || msg.error) throw new SandboxerError("SBX_HOST_UNREACHABLE", `cannot reach the sand-boxer server at ${new URL(url).origin}: ${msg?.error ?? "no reply"}`);
    return msg;
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
    this.worker = undefined;
  }
}
