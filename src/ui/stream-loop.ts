/**
 * What every /ui/stream view shares: a slot, then one loop. The slot is an
 * `eventStreams` session of the signed-in token and its project, counted by
 * the API's own SessionCaps (AppState.caps), so a token's dashboard streams
 * and its GET /v1/events streams share one limit on this replica
 * (docs/security.md "Session limits"). It is taken before the response
 * starts (over the limit: 429 SBX_SESSION_LIMIT, nothing opened) and given
 * back once, however the stream ends: the client leaves, the session ends,
 * the server shuts down, or a pass throws.
 *
 * The loop: re-check the session every few seconds, let the view read and
 * send what is new, keep the connection alive when quiet, then wait for the
 * next commit (Postgres LISTEN/NOTIFY on any replica, else the poll interval).
 */
import type { Context } from "hono";
import { type SSEStreamingApi, streamSSE } from "hono/streaming";
import type { UiDeps, UiEnv } from "./deps.js";
import type { Session } from "./session.js";

const HEARTBEAT_MS = 15_000;
const SESSION_CHECK_MS = 5_000;

export type SseMessage = Parameters<SSEStreamingApi["writeSSE"]>[0];

export interface Follow {
  /** Whether the session, resolved again (null: logged out, idle too long, token revoked), may keep this stream. */
  keep(session: Session | null): boolean;
  /** Read what is new after the cursor and send it; "more" when a full batch was read, so read again at once. */
  pass(send: (m: SseMessage) => Promise<void>): Promise<"more" | "idle">;
  /** The seq read up to: the next wait is for a commit after it. */
  cursor(): number;
}

/** Hold a slot for this session's stream and run `follow` in it until the stream ends. */
export async function liveStream(d: UiDeps, c: Context<UiEnv>, follow: Follow): Promise<Response> {
  const held = await d.state.caps.open("eventStreams", c.get("viewer").principal);
  const sid = c.get("sid");
  const shutdown = d.state.shutdown;
  c.header("X-Accel-Buffering", "no");
  c.header("Cache-Control", "no-store");

  async function run(stream: SSEStreamingApi): Promise<void> {
    // Ends the wait for the next commit at once, so a closed tab gives its slot back without waiting for a poll.
    const ended = new AbortController();
    const stop = () => {
      ended.abort();
      stream.abort();
    };
    shutdown.addEventListener("abort", stop, { once: true });
    stream.onAbort(() => ended.abort());
    try {
      let lastBeat = Date.now();
      let lastCheck = Date.now();
      const send = async (m: SseMessage) => {
        await stream.writeSSE(m);
        lastBeat = Date.now();
      };
      while (!stream.aborted && !shutdown.aborted) {
        if (Date.now() - lastCheck > SESSION_CHECK_MS) {
          if (!follow.keep(await d.sessions.resolve(sid))) return;
          lastCheck = Date.now();
        }
        if ((await follow.pass(send)) === "more") continue;
        if (Date.now() - lastBeat > HEARTBEAT_MS) {
          await stream.write(": keep-alive\n\n");
          lastBeat = Date.now();
        }
        await d.state.broker.awaitEvents(follow.cursor(), d.state.options.eventPollMs, ended.signal);
      }
    } finally {
      shutdown.removeEventListener("abort", stop);
      held.release();
    }
  }

  try {
    return streamSSE(c, run);
  } catch (err) {
    held.release();
    throw err;
  }
}
