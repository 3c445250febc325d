/** Event rendering (sandbox timelines, the live tail) and the events page. */
import type { SandboxEvent } from "../../types.js";
import { stamp } from "../format.js";
import { type Html, html } from "../html.js";
import { page, type Viewer } from "../layout.js";

/** One line of what an event says: the progress message, the error, or its notable fields. */
export function eventText(e: SandboxEvent): string {
  const d = e.data as Record<string, unknown>;
  if (typeof d.message === "string") return d.percent !== undefined ? `${d.message} (${String(d.percent)}%)` : d.message;
  const err = d.error as { code?: string; message?: string } | undefined;
  if (err && typeof err === "object") return `${err.code ?? ""} ${err.message ?? ""}`.trim();
  const keep = Object.entries(d).filter(([, v]) => v !== null && typeof v !== "object");
  return keep.map(([k, v]) => `${k}=${String(v)}`).join("  ");
}

const typeClass = (type: string) => `t-${type.replace(/^[a-z]+\./, "")}`;

/** A sandbox timeline entry. */
export function timelineItem(e: SandboxEvent): Html {
  return html`<li class="${typeClass(e.type)}" id="ev-${e.seq}"><time datetime="${e.at}" title="${stamp(e.at)}">${stamp(e.at).slice(11)}</time><span class="type">${e.type}</span><span class="msg">${eventText(e)}</span></li>`;
}

/** An events-tail entry: also names the sandbox and project. */
export function tailItem(e: SandboxEvent): Html {
  return html`<li class="${typeClass(e.type)} tail" id="ev-${e.seq}"><time datetime="${e.at}" title="${stamp(e.at)}">${stamp(e.at).slice(5)}</time><span class="type">${e.type}</span><span class="msg">${e.sandboxId ? html`<a class="mono" href="/ui/sandboxes/${e.sandboxId}">${e.sandboxId}</a> ` : ""}${e.project ? html`<span class="tag">${e.project}</span> ` : ""}${eventText(e)}</span></li>`;
}

export function eventsPage(v: Viewer, events: SandboxEvent[], after: number): Html {
  const body = html`<div class="head"><div><h1>Events</h1><p class="sub">The lifecycle event log, newest first; new events appear as they are written.</p></div></div>
<section class="panel" aria-labelledby="tail-h"><h2 id="tail-h">Live tail</h2>
<ol class="timeline" data-events aria-live="polite">
${events.length ? [...events].reverse().map(tailItem) : html`<li class="empty-row muted">No events yet.</li>`}
</ol></section>`;
  return page(v, "Events", body, { section: "/ui/events", stream: `/ui/stream?view=events&after=${after}` });
}
