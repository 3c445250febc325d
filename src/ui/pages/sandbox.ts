/**
 * One sandbox: the record, how to reach it, live build progress, its events
 * and snapshots, and the actions (destroy with confirmation, extend TTL,
 * snapshot). Panes carry an id and `data-refresh` (their own fragment URL);
 * app.js re-fetches them all (fragments/all) when the
 * stream says this sandbox changed.
 */
import { DESTROYABLE } from "../../lifecycle.js";
import type { Sandbox, SandboxEvent } from "../../types.js";
import { bytes, money, spentSoFar, stamp, stateTone, ttlLeft } from "../format.js";
import { type Html, html, raw } from "../html.js";
import { csrfField, notice, page, stateBadge, type Viewer } from "../layout.js";
import type { SnapshotView } from "../view.js";
import { timelineItem } from "./events.js";

export interface SandboxView {
  sb: Sandbox;
  events: SandboxEvent[];
  snapshots: SnapshotView[];
  canSnapshot: boolean;
  /** Operators only: the tail of a Packer build log. */
  log: string | null;
}

const SNIPPET_KEYS = new Set(["ssh", "tunnel", "exec", "command", "connect", "url"]);

function snippet(id: string, label: string, text: string): Html {
  return html`<h3>${label}</h3><div class="snippet"><pre id="${id}" tabindex="0">${text}</pre><button type="button" class="copy" data-copy="${id}" hidden data-js-only>Copy</button></div>`;
}

function reachability(sb: Sandbox): Html {
  const r = sb.reachability;
  if (!r) return html`<p class="muted">${sb.state === "ready" ? "No reachability recorded." : "Reachability appears once the sandbox is ready."}</p>`;
  const rows: Html[] = [];
  const blocks: Html[] = [];
  let n = 0;
  for (const [k, v] of Object.entries(r)) {
    const text = typeof v === "string" ? v : JSON.stringify(v, null, 2);
    if (SNIPPET_KEYS.has(k) || text.includes("\n")) blocks.push(snippet(`snip-${n++}`, k, text));
    else rows.push(html`<dt>${k}</dt><dd>${text}</dd>`);
  }
  return html`${rows.length ? html`<dl class="kv">${rows}</dl>` : ""}${blocks}`;
}

function kv(label: string, value: Html | string | null | undefined): Html {
  return html`<dt>${label}</dt><dd>${value === null || value === undefined || value === "" ? raw('<span class="muted">-</span>') : value}</dd>`;
}

function actions(v: Viewer, x: SandboxView): Html {
  const sb = x.sb;
  const live = !["destroyed", "failed"].includes(sb.state) || sb.state === "failed";
  if (!live && !DESTROYABLE.includes(sb.state)) return html``;
  const parts: Html[] = [];
  if (sb.state === "ready" && sb.expiresAt) {
    parts.push(
      html`<form method="post" action="/ui/sandboxes/${sb.id}/ttl" hx-boost="true" hx-target="main" hx-select="main" hx-swap="outerHTML show:window:top">${csrfField(v)}<label class="field">Extend TTL by<input name="duration" value="1h" size="6" required pattern="[0-9]+[smhd]" title="e.g. 30m, 2h, 1d"></label><button type="submit">Extend</button></form>`,
    );
  }
  if (sb.state === "ready" && x.canSnapshot) {
    parts.push(
      html`<form method="post" action="/ui/sandboxes/${sb.id}/snapshot" hx-boost="true" hx-target="main" hx-select="main" hx-swap="outerHTML show:window:top">${csrfField(v)}<label class="field">Snapshot name<input name="name" placeholder="optional" size="12" maxlength="64"></label><button type="submit">Snapshot</button></form>`,
    );
  }
  if (DESTROYABLE.includes(sb.state)) parts.push(html`<a class="btn danger" href="/ui/sandboxes/${sb.id}/destroy">Destroy…</a>`);
  return parts.length ? html`<div class="actions">${parts}</div>` : html``;
}

export function recordPane(v: Viewer, x: SandboxView, now: Date): Html {
  const sb = x.sb;
  const spent = spentSoFar(sb, now);
  const price = typeof sb.cost?.pricePerHour === "number" ? sb.cost.pricePerHour : 0;
  return html`<section class="panel" id="record" data-refresh="/ui/sandboxes/${sb.id}/fragments/record" aria-labelledby="record-h">
<h2 id="record-h">Record</h2>
<dl class="kv">
${kv("state", html`${stateBadge(sb.state, stateTone(sb.state))}${sb.reason ? html` <span class="muted">reason: ${sb.reason}</span>` : ""}`)}
${kv("profile", `${sb.profile} v${sb.profileVersion}`)}
${kv("extension", `${sb.extension}${sb.mode ? ` (${sb.mode})` : ""}`)}
${kv("host", sb.host)}
${kv("actor", `${sb.actor}${sb.project ? ` · project ${sb.project}` : ""}`)}
${kv("created", stamp(sb.createdAt))}
${kv("ready", sb.readyAt ? `${stamp(sb.readyAt)} (${((Date.parse(sb.readyAt) - Date.parse(sb.createdAt)) / 1000).toFixed(2)}s)` : null)}
${kv("expires", sb.expiresAt ? html`${stamp(sb.expiresAt)} · <span${sb.state === "ready" ? html` data-until="${sb.expiresAt}"` : ""}>${ttlLeft(sb, now)}</span> left` : null)}
${kv("destroyed", sb.destroyedAt ? stamp(sb.destroyedAt) : null)}
${kv("credits", price ? `${money(spent)} spent at ${price}/h` : "free")}
${sb.route ? kv("route", `${sb.route.strategy}: ${sb.route.reason}`) : ""}
${sb.error ? kv("error", html`<span class="st st-bad">${sb.error.code}</span> ${sb.error.message}`) : ""}
${Object.keys(sb.inputs).length ? kv("inputs", html`${Object.entries(sb.inputs).map(([k, val]) => html`<code>${k}=${val}</code> `)}`) : ""}
</dl>
${actions(v, x)}
<h3>Reachability</h3>
${reachability(sb)}
</section>`;
}

/**
 * Packer's machine-readable log lines (`ts,target,type,data...`) as a person
 * reads them: `HH:MM:SS message`; other lines as they are.
 */
export function readableLog(text: string): string {
  return text
    .split("\n")
    .map((line) => {
      const m = /^(\d{9,12}),([^,]*),([a-z][a-z0-9-]*),(.*)$/.exec(line);
      if (!m) return line;
      const at = new Date(Number(m[1]) * 1000).toISOString().slice(11, 19);
      const fields = (m[4] ?? "").split(",").map((f) => f.replaceAll("%!(PACKER_COMMA)", ",").replaceAll("\\n", " ").trim());
      if (m[3] === "ui") return `${at}  ${fields.slice(1).join(",")}`;
      return `${at}  ${m[2] ? `[${m[2]}] ` : ""}${m[3]}: ${fields.join(" ")}`;
    })
    .join("\n");
}

const progressOf = (events: SandboxEvent[]) => events.filter((e) => e.type === "sandbox.progress");

/** Progress notes as a bar (percent when the backend gives one), the latest step, and the log tail. */
export function progressPane(x: SandboxView): Html {
  const sb = x.sb;
  const notes = progressOf(x.events);
  if (!notes.length && !x.log) return html`<section class="panel" id="progress" data-refresh="/ui/sandboxes/${sb.id}/fragments/progress" hidden></section>`;
  const last = notes.at(-1);
  const pct = [...notes].reverse().find((e) => typeof e.data.percent === "number")?.data.percent as number | undefined;
  const running = sb.state === "requested" || sb.state === "provisioning";
  const bad = sb.state === "failed";
  const value = running ? pct : 100;
  return html`<section class="panel" id="progress" data-refresh="/ui/sandboxes/${sb.id}/fragments/progress" aria-labelledby="progress-h">
<h2 id="progress-h">${sb.mode === "build" ? "Build progress" : "Progress"}</h2>
<div class="progress-line"><strong data-progress-last>${last ? String(last.data.message ?? "") : "-"}</strong><span class="muted" data-progress-count>step ${notes.length}${pct !== undefined ? ` · ${pct}%` : ""}</span></div>
<progress class="${running ? "running" : bad ? "bad" : "done"}" max="100" aria-label="progress"${value !== undefined ? html` value="${Math.max(0, Math.min(100, value))}"` : ""}></progress>
<ol class="timeline small" data-order="asc">${notes.slice(-8).map(timelineItem)}</ol>
${x.log !== null ? html`<h3>Build log (tail)</h3><pre class="log" tabindex="0">${readableLog(x.log)}</pre>` : ""}
</section>`;
}

export function snapshotsPane(x: SandboxView): Html {
  const sb = x.sb;
  return html`<section class="panel" id="snapshots" data-refresh="/ui/sandboxes/${sb.id}/fragments/snapshots" aria-labelledby="snaps-h">
<h2 id="snaps-h">Snapshots</h2>
${
  x.snapshots.length
    ? html`<div class="table-wrap"><table><thead><tr><th>ID</th><th>Name</th><th>Created</th><th class="num">Size</th></tr></thead><tbody>${x.snapshots.map((s) => html`<tr><td class="mono">${s.id}</td><td>${s.name ?? ""}</td><td>${stamp(s.createdAt)}</td><td class="num">${bytes(s.sizeBytes)}</td></tr>`)}</tbody></table></div>`
    : html`<p class="muted">None.${x.canSnapshot ? "" : " This extension cannot snapshot."}</p>`
}
</section>`;
}

export function timelinePane(x: SandboxView): Html {
  return html`<section class="panel" aria-labelledby="tl-h"><h2 id="tl-h">Events</h2>
<ol class="timeline" data-events data-sandbox="${x.sb.id}" aria-live="polite">
${x.events.length ? [...x.events].reverse().map(timelineItem) : html`<li class="empty-row muted">No events.</li>`}
</ol></section>`;
}

/** The state in the page heading: a pane of its own, so it follows the stream too. */
export function headBadge(sb: Sandbox): Html {
  return html`<div id="head-state" data-refresh="/ui/sandboxes/${sb.id}/fragments/state">${stateBadge(sb.state, stateTone(sb.state))}</div>`;
}

const DONE: Record<string, string> = { destroyed: "Destroyed.", ttl: "TTL extended.", snapshot: "Snapshot taken." };

export function sandboxPage(v: Viewer, x: SandboxView, after: number, now: Date, flash: { done?: string | undefined; error?: string | undefined } = {}): Html {
  const sb = x.sb;
  const done = flash.done ? DONE[flash.done] : undefined;
  const body = html`<div class="head"><div><p class="sub"><a href="/ui/sandboxes">Sandboxes</a> /</p><h1 class="mono">${sb.id}</h1></div>${headBadge(sb)}</div>
${done ? notice("ok", done) : ""}${flash.error ? notice("bad", flash.error) : ""}
<div class="grid">
<div class="stack">${recordPane(v, x, now)}${snapshotsPane(x)}</div>
<div class="stack">${progressPane(x)}${timelinePane(x)}</div>
</div>`;
  return page(v, sb.id, body, {
    section: "/ui/sandboxes",
    stream: `/ui/stream?view=sandbox&sandbox=${sb.id}&after=${after}`,
    panes: `/ui/sandboxes/${sb.id}/fragments/all`,
  });
}

export function confirmDestroyPage(v: Viewer, sb: Sandbox): Html {
  const body = html`<div class="head"><div><p class="sub"><a href="/ui/sandboxes">Sandboxes</a> / <a class="mono" href="/ui/sandboxes/${sb.id}">${sb.id}</a> /</p><h1>Destroy this sandbox?</h1></div></div>
<section class="panel confirm">
<p>Tears down <strong class="mono">${sb.id}</strong> (${sb.profile} on ${sb.extension}, host ${sb.host}). Whatever runs inside stops and its workspace is removed; the record stays, marked <code>destroyed</code>.</p>
<div class="actions">
<form method="post" action="/ui/sandboxes/${sb.id}/destroy">${csrfField(v)}<button type="submit" class="danger solid" autofocus>Destroy ${sb.id}</button></form>
<a class="btn" href="/ui/sandboxes/${sb.id}">Cancel</a>
</div>
</section>`;
  return page(v, `Destroy ${sb.id}?`, body, { section: "/ui/sandboxes" });
}
