import { type SSEStreamingApi, streamSSE } from "hono/streaming";
import { SandboxerError } from "../errors.js";
import type { SandboxEvent } from "../types.js";
import { ErrorBody, EventList, EventsQuery } from "./schemas.js";
import { type AnyRoute, COMMON_ERRORS, defineRoute } from "./spec.js";
import { eventFor } from "../tenancy/view.js";
import { canSee, visibleSandbox } from "./tenancy.js";

const HEARTBEAT_MS = 15_000;
const BATCH = 500;

function lastEventId(header: string | undefined): number | undefined {
  if (header === undefined || header === "") return undefined;
  if (!/^\d{1,15}$/.test(header))
    throw new SandboxerError("SBX_USAGE", "Last-Event-ID: must be the numeric id of an event this server sent", { details: { field: "Last-Event-ID" } });
  return Number(header);
}

export const eventRoutes: AnyRoute[] = [
  defineRoute({
    method: "get",
    path: "/v1/events",
    operationId: "events",
    summary: "Lifecycle events: a Server-Sent Events stream (resumable with Last-Event-ID), or one JSON page",
    tag: "events",
    auth: "token",
    query: EventsQuery,
    headers: [{ name: "Last-Event-ID", description: "resume after this event (the seq of the last event received)" }],
    responses: {
      200: { description: "text/event-stream (id = seq, event = type, data = the event as JSON) or, with format=json, one page", schema: EventList, sse: true },
      ...COMMON_ERRORS,
      404: { description: "no such sandbox visible to this token", schema: ErrorBody },
      429: { description: "this token or its project holds as many open event streams as sessionLimits allow (SBX_SESSION_LIMIT)", schema: ErrorBody },
    },
    async handle({ c, state, principal, query }) {
      if (query.sandbox) await visibleSandbox(state.broker, principal, query.sandbox);
      const resumeFrom = lastEventId(c.req.header("Last-Event-ID"));
      let after = resumeFrom ?? query.after ?? 0;
      const sandboxId = query.sandbox;
      const mine = (e: SandboxEvent) => canSee(principal, e.project);
      const wantsJson = query.format === "json" || (query.format === undefined && (c.req.header("Accept") ?? "").startsWith("application/json"));
      if (wantsJson) {
        const batch = await state.broker.events({ sandboxId, afterSeq: after, limit: query.limit ?? 1000 });
        return { status: 200, body: { items: batch.filter(mine).map((e) => eventFor(principal, e)), lastSeq: batch.at(-1)?.seq ?? after } };
      }
      // Each live stream reads the store until it ends: counted per token and project (sessionLimits.eventStreams).
      const held = await state.caps.open("eventStreams", principal);
      // Reverse proxies (nginx) must not buffer a live stream.
      c.header("X-Accel-Buffering", "no");
      return streamSSE(c, (stream) => follow(stream).finally(() => held.release()));
      async function follow(stream: SSEStreamingApi): Promise<void> {
        let lastBeat = Date.now();
        const ended = new AbortController();
        const stop = () => {
          ended.abort();
          stream.abort();
        };
        state.shutdown.addEventListener("abort", stop, { once: true });
        stream.onAbort(() => {
          ended.abort();
          state.shutdown.removeEventListener("abort", stop);
        });
        // Events are also written by other processes and replicas: read the store whenever it says
        // something was committed after our cursor (Postgres: LISTEN/NOTIFY), or poll (SQLite).
        while (!stream.aborted && !state.shutdown.aborted) {
          const batch = await state.broker.events({ sandboxId, afterSeq: after, limit: BATCH });
          for (const e of batch) {
            if (stream.aborted) return;
            // Advance past events this token may not see, but never send them.
            after = e.seq;
            if (mine(e)) await stream.writeSSE({ id: String(e.seq), event: e.type, data: JSON.stringify(eventFor(principal, e)) });
          }
          if (batch.length === BATCH) continue;
          if (Date.now() - lastBeat > HEARTBEAT_MS) {
            await stream.write(": keep-alive\n\n");
            lastBeat = Date.now();
          }
          await state.broker.awaitEvents(after, state.options.eventPollMs, ended.signal);
        }
      }
    },
  }),
];
