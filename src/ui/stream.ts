/**
 * GET /ui/stream: Server-Sent Events for the dashboard's live parts. It reads
 * the same event log as GET /v1/events, drops what the principal may not see
 * (canSee, exactly as the API), and sends ready-to-swap HTML:
 *   view=table    `row`     {id, html, match}: a sandboxes-table row after each change
 *   view=sandbox  `event`   {sandboxId, html}: a timeline entry; `sandbox` {id}: re-fetch the panes
 *   view=events   `event`   {html}: an events-tail entry
 *   view=pools    `pools`   {html}: the pools page's live part (operators only; src/ui/stream-pools.ts)
 * Resumable with Last-Event-ID; ends when the session ends or the server stops.
 * Each open stream holds an `eventStreams` slot of the session's token and
 * project, shared with GET /v1/events (src/ui/stream-loop.ts).
 */
import type { Context } from "hono";
import { canSee, visibleSandbox } from "../api/tenancy.js";
import { SandboxerError } from "../errors.js";
import type { SandboxEvent } from "../types.js";
import type { UiDeps, UiEnv } from "./deps.js";
import { tailItem, timelineItem } from "./pages/events.js";
import { matches, parseTableQuery, sandboxRow } from "./pages/sandboxes.js";
import { liveStream } from "./stream-loop.js";
import { poolsStream } from "./stream-pools.js";
import { viewOf } from "./view.js";

const BATCH = 500;
const VIEWS = ["table", "sandbox", "events", "pools"] as const;

function seqParam(text: string | undefined, field: string): number | undefined {
  if (text === undefined || text === "") return undefined;
  if (!/^\d{1,15}$/.test(text)) throw new SandboxerError("SBX_USAGE", `${field}: must be an event seq`, { details: { field } });
  return Number(text);
}

export async function streamHandler(d: UiDeps, c: Context<UiEnv>): Promise<Response> {
  const broker = d.state.broker;
  const { view: rawView, sandbox, after: afterText, ...filters } = c.req.query();
  const view = (VIEWS as readonly string[]).includes(rawView ?? "") ? (rawView as (typeof VIEWS)[number]) : undefined;
  if (!view) throw new SandboxerError("SBX_USAGE", "view: one of table, sandbox, events, pools", { details: { field: "view" } });
  if (view === "pools")
    return poolsStream(d, c, seqParam(c.req.header("Last-Event-ID"), "Last-Event-ID") ?? seqParam(afterText, "after") ?? (await d.seq.latest()));
  const q = parseTableQuery({ ...filters });
  let principal = c.get("viewer").principal;
  if (view === "sandbox") {
    if (!sandbox) throw new SandboxerError("SBX_USAGE", "sandbox: required with view=sandbox", { details: { field: "sandbox" } });
    await visibleSandbox(broker, principal, sandbox);
  }
  let after = seqParam(c.req.header("Last-Event-ID"), "Last-Event-ID") ?? seqParam(afterText, "after") ?? (await d.seq.latest());
  return liveStream(d, c, {
    keep(s) {
      // Logged out, idle too long or token revoked: the stream ends with the session.
      if (!s) return false;
      principal = s.principal;
      return true;
    },
    cursor: () => after,
    async pass(send) {
      const batch: SandboxEvent[] = await broker.events({ sandboxId: view === "sandbox" ? sandbox : undefined, afterSeq: after, limit: BATCH });
      const touched = new Set<string>();
      for (const e of batch) {
        after = e.seq;
        if (!canSee(principal, e.project)) continue;
        const ev = viewOf(principal, e);
        if (view === "events") await send({ id: String(e.seq), event: "event", data: JSON.stringify({ html: tailItem(ev).value }) });
        else if (view === "sandbox")
          await send({ id: String(e.seq), event: "event", data: JSON.stringify({ sandboxId: e.sandboxId, html: timelineItem(ev).value }) });
        if (e.sandboxId) touched.add(e.sandboxId);
      }
      for (const id of view === "events" ? [] : touched) {
        if (view === "sandbox") {
          await send({ event: "sandbox", data: JSON.stringify({ id }) });
          continue;
        }
        let sb: Awaited<ReturnType<typeof visibleSandbox>>;
        try {
          sb = viewOf(principal, await visibleSandbox(broker, principal, id));
        } catch {
          continue;
        }
        // One row per sandbox per batch, carrying the batch's last seq: replaying it is harmless.
        await send({
          id: String(after),
          event: "row",
          data: JSON.stringify({ id, match: matches(sb, q), html: sandboxRow(principal, sb, broker.clock.now()).value }),
        });
      }
      return batch.length === BATCH ? "more" : "idle";
    },
  });
}
