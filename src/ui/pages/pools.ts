/**
 * Warm pools (docs/pools.md), operators only: each pool's target and members
 * (idle, refilling), claims, hit rate, refill lag, max idle and the credits its
 * idle members used; set a size and drain, each through a page that says
 * what will happen and a POST carrying the session's CSRF value (as destroy).
 * The table follows the stream (view=pools): the server re-renders it after
 * pool activity and app.js swaps it in.
 */
import type { Profile } from "../../catalog/schema.js";
import type { PoolRow, PoolsView } from "../backend.js";
import { duration, money, stamp } from "../format.js";
import { type Html, html, raw } from "../html.js";
import { csrfField, notice, page, type Viewer } from "../layout.js";

/** A duration the pool's `maxIdle` field takes back: whole hours, minutes or seconds. */
export function durationText(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

const q = (key: string) => encodeURIComponent(key);

function inputsOf(p: PoolRow): Html {
  const entries = Object.entries(p.inputs);
  return entries.length ? html`${entries.map(([k, v]) => html`<code>${k}=${v}</code> `)}` : raw('<span class="muted">defaults</span>');
}

function lag(p: PoolRow): string {
  if (!p.refillLagMs) return "-";
  return `${(p.refillLagMs.last / 1000).toFixed(2)}s (mean ${(p.refillLagMs.mean / 1000).toFixed(2)}s)`;
}

function poolRow(p: PoolRow, now: Date): Html {
  const members = p.ready + p.warming;
  const short =
    p.size > 0 && p.shortSince
      ? html`<span class="muted small" title="below its size since ${stamp(p.shortSince)}"> short ${duration(now.getTime() - Date.parse(p.shortSince))}</span>`
      : "";
  return html`<tr id="pool-${q(p.key)}" data-pool="${p.key}">
<td><strong>${p.profile}</strong><div class="small">${inputsOf(p)}</div></td>
<td><span class="tag${p.source === "drained" ? "" : " yes"}">${p.source}</span></td>
<td class="num" data-col="target">${p.size}</td>
<td class="num" data-col="members">${members}${short}</td>
<td class="num" data-col="idle">${p.ready}</td>
<td class="num" data-col="refilling">${p.warming}</td>
<td class="num" data-col="claimed">${p.claimed}</td>
<td class="num">${p.hitRate === null ? "-" : `${Math.round(p.hitRate * 100)}%`}</td>
<td>${lag(p)}</td>
<td>${durationText(p.maxIdleSeconds)}</td>
<td class="num" data-col="idle-spent">${money(p.idleSpent)}</td>
<td><div class="actions"><a class="btn" href="/ui/pools/edit?pool=${q(p.key)}">Set size…</a>${p.size > 0 || members > 0 ? html`<a class="btn danger" href="/ui/pools/drain?pool=${q(p.key)}">Drain…</a>` : ""}</div></td>
</tr>`;
}

/** The live part of the page: re-rendered by the stream after pool activity. */
export function poolsTable(view: PoolsView, now: Date): Html {
  const a = view.account;
  return html`<div id="pools-live">
<div class="cards">
<div class="card"><div class="label">pool account (_pool)</div><div class="big">${a ? money(a.available) : "0"}</div><div class="muted small">${a ? html`available · balance ${money(a.balance)} · held for idle members ${money(a.reserved)}` : html`unused: <code>sandboxer credits add AMOUNT --pool</code>`}</div></div>
<div class="card"><div class="label">idle capacity, spent</div><div class="big">${money(view.pools.reduce((s, p) => s + p.idleSpent, 0) + view.unattributed)}</div><div class="muted small">credits of idle metered members${view.unattributed ? ` (${money(view.unattributed)} from before debits named their pool)` : ""}</div></div>
<div class="card"><div class="label">warm now</div><div class="big">${view.pools.reduce((s, p) => s + p.ready, 0)}</div><div class="muted small">idle members across ${view.pools.length} pool(s) · ${view.pools.reduce((s, p) => s + p.warming, 0)} refilling</div></div>
</div>
<div class="table-wrap"><table><thead><tr><th>Pool (profile, inputs)</th><th>Source</th><th class="num">Target</th><th class="num">Members</th><th class="num">Idle</th><th class="num">Refilling</th><th class="num">Claimed</th><th class="num">Hit rate</th><th>Refill lag</th><th>Max idle</th><th class="num">Idle credits</th><th>Actions</th></tr></thead>
<tbody data-pools>
${view.pools.length ? view.pools.map((p) => poolRow(p, now)) : html`<tr><td colspan="12" class="empty">No pools. Set one below, or give a profile <code>pool: { size: N }</code>.</td></tr>`}
</tbody></table></div>
</div>`;
}

const DONE: Record<string, string> = { set: "Pool size set; the refill follows in the background.", drained: "Pool drained." };

export function poolsPage(
  v: Viewer,
  view: PoolsView,
  profiles: Profile[],
  now: Date,
  after: number,
  flash: { done?: string | undefined; destroyed?: string | undefined } = {},
): Html {
  const done = flash.done ? DONE[flash.done] : undefined;
  const destroyed = flash.done === "drained" && flash.destroyed && /^\d{1,6}$/.test(flash.destroyed) ? ` ${flash.destroyed} warm member(s) destroyed.` : "";
  const pooled = new Set(view.pools.map((p) => p.key));
  const body = html`<div class="head"><div><h1>Warm pools</h1><p class="sub">Ready sandboxes owned by no one yet: a create for a pooled profile takes one instead of provisioning (<code>sandboxer pools list</code>).</p></div></div>
${done ? notice("ok", `${done}${destroyed}`) : ""}
${poolsTable(view, now)}
<section class="panel" aria-labelledby="new-h"><h2 id="new-h">Set a pool for a profile</h2>
<form class="actions" method="get" action="/ui/pools/edit"><label class="field">Profile<select name="profile">${profiles.map((p) => html`<option value="${p.id}">${p.id}${pooled.has(p.id) ? " (pooled)" : ""}</option>`)}</select></label><button type="submit">Continue…</button></form>
<p class="muted small">Pools keyed by shaping inputs (<code>--input k=v</code>) are set with <code>sandboxer pools set PROFILE --size N --input k=v</code>; they are listed and resized here like the others.</p>
</section>`;
  return page(v, "Pools", body, { section: "/ui/pools", stream: `/ui/stream?view=pools&after=${after}` });
}

export interface PoolTarget {
  /** The pool's key when it exists, else the profile a new pool is for. */
  key: string;
  profile: Profile;
  current: PoolRow | undefined;
}

/** The size form: says what a change does before the POST that makes it. */
export function poolEditPage(v: Viewer, t: PoolTarget, price: number, form: { size?: string; maxIdle?: string } = {}, error?: string): Html {
  const cur = t.current;
  const size = form.size ?? String(cur?.size ?? t.profile.pool?.size ?? 1);
  const maxIdle = form.maxIdle ?? (cur ? durationText(cur.maxIdleSeconds) : (t.profile.pool?.maxIdle ?? "30m"));
  const body = html`<div class="head"><div><p class="sub"><a href="/ui/pools">Pools</a> /</p><h1>Set the pool of ${t.profile.id}</h1></div></div>
${error ? notice("bad", error) : ""}
<section class="panel confirm">
<p>${cur ? html`Pool <code>${cur.key}</code>: target ${cur.size}, ${cur.ready} idle, ${cur.warming} refilling.` : html`No pool for <code>${t.profile.id}</code> yet.`}
The reaper refills a pool below its size one create at a time and destroys idle members beyond it (the newest first). Size 0 switches the pool off; its idle members then go too.</p>
${price > 0 ? html`<p><strong>Metered:</strong> each idle member costs ${money(price)} credits per hour, charged to the pool account (<code>_pool</code>), not to whoever claims it later.</p>` : ""}
<form method="post" action="/ui/pools/set">${csrfField(v)}
<input type="hidden" name="${cur ? "pool" : "profile"}" value="${cur ? cur.key : t.profile.id}">
<div class="actions">
<label class="field">Size<input name="size" value="${size}" size="5" inputmode="numeric" required pattern="[0-9]{1,4}" title="0 to 1000" autofocus></label>
<label class="field">Max idle<input name="maxIdle" value="${maxIdle}" size="6" required pattern="[0-9]+[smhd]" title="e.g. 90s, 30m, 2h"></label>
<button type="submit" class="primary">Set size</button>
<a class="btn" href="/ui/pools">Cancel</a>
</div>
</form>
</section>`;
  return page(v, `Pool of ${t.profile.id}`, body, { section: "/ui/pools" });
}

export function confirmDrainPage(v: Viewer, p: PoolRow): Html {
  const body = html`<div class="head"><div><p class="sub"><a href="/ui/pools">Pools</a> /</p><h1>Drain this pool?</h1></div></div>
<section class="panel confirm">
<p>Sets pool <code>${p.key}</code> to size 0 and destroys its ${p.ready + p.warming} warm member(s) now. Sandboxes already claimed are their consumers' and stay. Creates for ${p.profile} are created cold until the pool is set again.</p>
<div class="actions">
<form method="post" action="/ui/pools/drain">${csrfField(v)}<input type="hidden" name="pool" value="${p.key}"><button type="submit" class="danger solid" autofocus>Drain ${p.key}</button></form>
<a class="btn" href="/ui/pools">Cancel</a>
</div>
</section>`;
  return page(v, `Drain ${p.key}?`, body, { section: "/ui/pools" });
}
