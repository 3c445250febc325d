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
import { SandboxerError } from "../errors.js";
import { poolsView } from "./backend.js";
import type { UiDeps, UiEnv } from "./deps.js";
import { poolsTable } from "./pages/pools.js";
import { liveStream } from "./stream-loop.js";

const BATCH = 500;
const FALLBACK_MS = 5_000;

export function poolsStream(d: UiDeps, c: Context<UiEnv>, start: number): Promise<Response> {
  const broker = d.state.broker;
  if (c.get("viewer").principal.actor !== "adm") throw new SandboxerError("SBX_NOT_FOUND", "no such page");
  let after = start;
  let sent = "";
  let lastRender = 0;
  // The first pass renders: the page may have been rendered before events the seq it carries cannot show (members' ones).
  let changed = true;
  return liveStream(d, c, {
    keep: (s) => s?.principal.actor === "adm",
    cursor: () => after,
    async pass(send) {
      const batch = await broker.allEvents({ afterSeq: after, limit: BATCH });
      if (batch.length) {
        after = batch.at(-1)?.seq ?? after;
        changed = true;
        if (batch.length === BATCH) return "more";
      }
      if (changed || Date.now() - lastRender > FALLBACK_MS) {
        const text = poolsTable(await poolsView(broker), broker.clock.now()).value;
        lastRender = Date.now();
        changed = false;
        if (text !== sent) {
          await send({ id: String(after), event: "pools", data: JSON.stringify({ html: text }) });
          sent = text;
        }
      }
      return "idle";
    },
  });
}
