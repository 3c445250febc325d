/**
 * The sandboxes table: filters, server-side keyset paging (the same query as
 * GET /v1/sandboxes, so 10,000 records cost one page), and rows that the
 * event stream replaces in place.
 */
import { z } from "zod";
import { canSee, listScope } from "../../api/tenancy.js";
import type { Principal } from "../../api/tokens.js";
import type { Broker } from "../../broker.js";
import { SandboxerError } from "../../errors.js";
import { LIVE_STATES } from "../../lifecycle.js";
import { SANDBOX_STATES, type Sandbox, type SandboxState } from "../../types.js";
import { age, money, spentSoFar, stateTone, ttlLeft } from "../format.js";
import { type Html, html, raw } from "../html.js";
import { page, stateBadge, type Viewer } from "../layout.js";
import { viewOf } from "../view.js";

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const name = (field: string) =>
  z
    .string()
    .optional()
    .transform((v) => (v === undefined || v === "" ? undefined : v))
    .refine((v) => v === undefined || NAME.test(v), { message: `${field}: not a name` });

export const TableQuery = z.object({
  state: z
    .string()
    .optional()
    .refine((v) => !v || v === "live" || v === "all" || v.split(",").every((s) => (SANDBOX_STATES as readonly string[]).includes(s)), {
      message: "state: live, all or one of the states",
    }),
  profile: name("profile"),
  project: name("project"),
  extension: name("extension"),
  host: name("host"),
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
});
export type TableQueryT = z.infer<typeof TableQuery>;

export function parseTableQuery(raw: Record<string, string>): TableQueryT {
  const r = TableQuery.safeParse(raw);
  if (!r.success) {
    const msg = r.error.issues.map((i) => i.message).join("; ");
    throw new SandboxerError("SBX_USAGE", msg.slice(0, 300), { details: { field: String(r.error.issues[0]?.path[0] ?? "query") } });
  }
  return r.data;
}

export const DEFAULT_LIMIT = 100;

function statesOf(q: TableQueryT): readonly SandboxState[] | undefined {
  if (!q.state || q.state === "live") return [...LIVE_STATES, "failed"];
  if (q.state === "all") return undefined;
  return q.state.split(",") as SandboxState[];
}

const cursorOf = (sb: Sandbox) => Buffer.from(`${sb.createdAt}\n${sb.id}`).toString("base64url");
function afterCursor(cursor: string): { createdAt: string; id: string } {
  const [createdAt, id] = Buffer.from(cursor, "base64url").toString().split("\n");
  if (!createdAt || !id) throw new SandboxerError("SBX_USAGE", "cursor: not a cursor this server issued", { details: { field: "cursor" } });
  return { createdAt, id };
}

export interface TablePage {
  items: Sandbox[];
  next: string | null;
}

/** One page, exactly as GET /v1/sandboxes decides it (listScope, then canSee as the second lock). */
export async function tablePage(broker: Broker, p: Principal, q: TableQueryT): Promise<TablePage> {
  const scope = listScope(p, q.project);
  if (!scope) return { items: [], next: null };
  const limit = q.limit ?? DEFAULT_LIMIT;
  const after = q.cursor ? afterCursor(q.cursor) : undefined;
  const rows = await broker.list({
    states: statesOf(q),
    profile: q.profile,
    project: scope.project,
    extension: q.extension,
    host: q.host,
    after,
    limit: limit + 1,
  });
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return { items: page.filter((sb) => canSee(p, sb.project)).map((sb) => viewOf(p, sb)), next: rows.length > limit && last ? cursorOf(last) : null };
}

/** Whether a record belongs in the table under these filters (the stream adds new rows only then). */
export function matches(sb: Sandbox, q: TableQueryT): boolean {
  const states = statesOf(q);
  return (
    (!states || states.includes(sb.state)) &&
    (!q.profile || q.profile === sb.profile) &&
    (!q.project || q.project === sb.project) &&
    (!q.extension || q.extension === sb.extension) &&
    (!q.host || q.host === sb.host)
  );
}

const short = (id: string) => id.replace(/^(profile|ext)\./, "");

export function sandboxRow(p: Principal, sb: Sandbox, now: Date): Html {
  const spent = spentSoFar(sb, now);
  const live = !["destroyed", "failed"].includes(sb.state);
  return html`<tr id="row-${sb.id}" data-state="${sb.state}">
<td><a class="mono" href="/ui/sandboxes/${sb.id}">${sb.id}</a></td>
<td title="${sb.profile}">${short(sb.profile)}</td>
<td title="${sb.extension}">${short(sb.extension)}</td>
<td>${sb.host}</td>
${p.actor === "adm" ? html`<td>${sb.project ?? raw('<span class="muted">-</span>')}</td>` : ""}
<td>${stateBadge(sb.state, stateTone(sb.state))}</td>
<td class="num" data-since="${sb.createdAt}">${age(sb, now)}</td>
<td class="num"${live && sb.expiresAt ? html` data-until="${sb.expiresAt}"` : ""}>${ttlLeft(sb, now)}</td>
<td class="num">${spent ? money(spent) : raw('<span class="muted">0</span>')}</td>
</tr>`;
}

function options(values: string[], selected: string | undefined, all: string): Html {
  return html`<option value="">${all}</option>${values.map((v) => html`<option value="${v}"${v === selected ? raw(" selected") : ""}>${short(v)}</option>`)}`;
}

/** htmx: swap the page's main in place and keep the URL in step (plain links and forms without JS). */
const BOOST = raw('hx-boost="true" hx-target="main" hx-select="main" hx-swap="outerHTML" hx-push-url="true"');

export interface FilterChoices {
  profiles: string[];
  extensions: string[];
  hosts: string[];
}

function filters(p: Principal, q: TableQueryT, choices: FilterChoices): Html {
  const stateOpts = ["live", "all", ...SANDBOX_STATES];
  return html`<form class="filters" method="get" action="/ui/sandboxes" data-autosubmit role="search" aria-label="Filter sandboxes" ${BOOST}>
<label>State<select name="state">${stateOpts.map((s) => html`<option value="${s}"${(q.state ?? "live") === s ? raw(" selected") : ""}>${s === "live" ? "live + failed" : s}</option>`)}</select></label>
<label>Profile<select name="profile">${options(choices.profiles, q.profile, "any")}</select></label>
<label>Extension<select name="extension">${options(choices.extensions, q.extension, "any")}</select></label>
<label>Host<select name="host">${options(choices.hosts, q.host, "any")}</select></label>
${p.actor === "adm" ? html`<label>Project<input name="project" value="${q.project ?? ""}" placeholder="any" size="12"></label>` : ""}
<button type="submit">Apply</button>
<a class="btn" href="/ui/sandboxes">Reset</a>
</form>`;
}

/** The query string of the current filters (for the stream and the pager). */
export function filterQuery(q: TableQueryT, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams();
  for (const k of ["state", "profile", "project", "extension", "host"] as const) {
    const v = q[k];
    if (v) params.set(k, v);
  }
  if (q.limit) params.set("limit", String(q.limit));
  for (const [k, v] of Object.entries(extra)) params.set(k, v);
  return params.toString();
}

export function sandboxTable(p: Principal, pg: TablePage, q: TableQueryT, now: Date): Html {
  const cols = p.actor === "adm" ? 9 : 8;
  const lastPage = pg.next === null;
  return html`<div class="table-wrap" id="sandboxes">
<table>
<caption class="skip">Sandboxes</caption>
<thead><tr><th scope="col">ID</th><th scope="col">Profile</th><th scope="col">Extension</th><th scope="col">Host</th>${p.actor === "adm" ? html`<th scope="col">Project</th>` : ""}<th scope="col">State</th><th scope="col" class="num">Age</th><th scope="col" class="num">TTL left</th><th scope="col" class="num">Credits</th></tr></thead>
<tbody data-rows data-last-page="${lastPage ? "1" : "0"}">
${pg.items.length ? pg.items.map((sb) => sandboxRow(p, sb, now)) : html`<tr class="empty-row"><td colspan="${cols}" class="empty">No sandboxes match these filters.</td></tr>`}
</tbody>
</table>
</div>
<nav class="pager" aria-label="Pages" ${BOOST}>
<span><span data-count>${pg.items.length}</span> shown${q.cursor ? " (later page)" : ""}</span>
<span>${q.cursor ? html`<a href="/ui/sandboxes?${filterQuery(q)}">First page</a> ` : ""}${pg.next ? html`<a class="btn" href="/ui/sandboxes?${filterQuery(q, { cursor: pg.next })}" rel="next">Next page →</a>` : ""}</span>
</nav>`;
}

export function sandboxesPage(v: Viewer, pg: TablePage, q: TableQueryT, choices: FilterChoices, after: number, now: Date): Html {
  const stream = `/ui/stream?${filterQuery(q, { view: "table", after: String(after) })}`;
  const body = html`<div class="head"><div><h1>Sandboxes</h1><p class="sub">Oldest first, as <code>sandboxer list</code>; the table follows the event stream.</p></div></div>
${filters(v.principal, q, choices)}
${sandboxTable(v.principal, pg, q, now)}`;
  return page(v, "Sandboxes", body, { section: "/ui/sandboxes", stream });
}
