/**
 * Progress for a create or restore, from the broker's own record of it: the
 * sandbox's events (`sandbox.provisioning`, `sandbox.progress`, ...), polled
 * while the broker works and drained before the result goes out, so every
 * step reaches the client ahead of the answer. Events rather than a callback:
 * they exist for a local broker and a remote one (SANDBOXER_URL) alike.
 */
import type { Principal } from "../api/tokens.js";
import type { Broker } from "../broker.js";
import type { SandboxEvent } from "../types.js";
import { eventView } from "./view.js";

const POLL_MS = 200;
const SETTLE_MS = 20;

export function describeEvent(e: SandboxEvent): string | undefined {
  const d = e.data as Record<string, unknown>;
  switch (e.type) {
    case "sandbox.progress":
      return typeof d.message === "string" ? d.message : undefined;
    case "sandbox.provisioning":
      return "provisioning";
    case "sandbox.ready":
      return "ready";
    case "sandbox.failed":
      return `failed${typeof d.message === "string" ? `: ${d.message}` : ""}`;
    default:
      return e.type.startsWith("sandbox.") ? e.type.slice("sandbox.".length).replace(/_/g, " ") : undefined;
  }
}

export interface ProgressFollower {
  /** The record exists: say so and start following its events. */
  follow(sandboxId: string, note: string): void;
  /** Stop polling and send what is left; call before answering. */
  finish(): Promise<void>;
}

const IDLE: ProgressFollower = { follow() {}, async finish() {} };

/** Follows only when the client asked for progress: nothing to poll otherwise. */
export function followProgress(
  broker: Broker,
  call: { principal: Principal; wantsProgress: boolean; progress(message: string): Promise<void> },
): ProgressFollower {
  if (!call.wantsProgress) return IDLE;
  const send = (message: string) => call.progress(message);
  let id: string | undefined;
  let after = 0;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let sentAt = 0;
  // One poll at a time, in order: progress numbers must only grow.
  const poll = () => {
    running = running
      .then(async () => {
        if (!id) return;
        const events = await broker.events({ sandboxId: id, afterSeq: after, limit: 500 });
        for (const e of events) {
          after = e.seq;
          const text = describeEvent(eventView(call.principal, e));
          if (text) {
            await send(text);
            sentAt = Date.now();
          }
        }
      })
      .catch(() => {});
    return running;
  };
  return {
    follow(sandboxId, note) {
      if (id) return;
      id = sandboxId;
      running = running.then(() => send(note)).catch(() => {});
      timer = setInterval(poll, POLL_MS);
      timer.unref();
    },
    async finish() {
      if (timer) clearInterval(timer);
      await poll();
      // The SDK's client dispatches notifications a microtask later than responses, so a note read
      // in the same chunk as the answer is dropped (typescript-sdk issue 2580): let the last ones go out alone.
      const since = Date.now() - sentAt;
      if (since < SETTLE_MS) await new Promise((r) => setTimeout(r, SETTLE_MS - since));
    },
  };
}
