/**
 * GET /ui/stream?view=pools (operators only): `pools` {html} with the pools
 * page's live part, re-rendered on the server after pool activity. Refills,
 * idle expiry and drains are events of pool members, which `events` hides
 * from every consumer; this view reads them through `allEvents` (adm only)
 * and sends the table only when it changed. Settings changed elsewhere
 * without any event yet (`pools set` of an idle size) show within
 * FALLBACK_MS.
 */
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import { SandboxerError } from "../errors.js";
import { poolsView } from "./backend.js";
import type { UiDeps, UiEnv } from "./deps.js";
import { poolsTable } from "./pages/pools.js";

const BATCH = 500;
const FALLBACK_MS = 5_000;
const HEARTBEAT_MS = 15_000;
const SESSION_CHECK_MS = 5_000;

export function poolsStream(d: UiDeps, c: Context<UiEnv>, start: number): Response {
  const broker = d.state.broker;
  if (c.get("viewer").principal.actor !== "adm") throw new SandboxerError("SBX_NOT_FOUND", "no such page");
  const sid = c.get("sid");
  c.header("X-Accel-Buffering", "no");
  c.header("Cache-Control", "no-store");
  return streamSSE(c, async (stream) => {
    const stop = () => stream.abort();
    d.state.shutdown.addEventListener("abort", stop, { once: true });
    stream.onAbort(() => d.state.shutdown.removeEventListener("abort", stop));
    let after = start;
    let sent = "";
    let lastRender = 0;
    let lastBeat = Date.now();
    let lastCheck = Date.now();
    // The first pass renders: the page may have been rendered before events the seq it carries cannot show (members' ones).
    let changed = true;
    while (!stream.aborted && !d.state.shutdown.aborted) {
      if (Date.now() - lastCheck > SESSION_CHECK_MS) {
        const s = await d.sessions.resolve(sid);
        if (s?.principal.actor !== "adm") return;
        lastCheck = Date.now();
      }
      const batch = await broker.allEvents({ afterSeq: after, limit: BATCH });
      if (batch.length) {
        after = batch.at(-1)?.seq ?? after;
        changed = true;
        if (batch.length === BATCH) continue;
      }
      if (changed || Date.now() - lastRender > FALLBACK_MS) {
        const text = poolsTable(await poolsView(broker), broker.clock.now()).value;
        lastRender = Date.now();
        changed = false;
        if (text !== sent) {
          await stream.writeSSE({ id: String(after), event: "pools", data: JSON.stringify({ html: text }) });
          sent = text;
          lastBeat = Date.now();
        }
      }
      if (Date.now() - lastBeat > HEARTBEAT_MS) {
        await stream.write(": keep-alive\n\n");
        lastBeat = Date.now();
      }
      // Woken by a commit on any replica (Postgres LISTEN/NOTIFY), else the poll interval (SQLite).
      await broker.awaitEvents(after, d.state.options.eventPollMs);
    }
  });
}
