/** Hosts: the inventory, each host's last canary facts and health; stale resources for operators. */
import type { ReapResult, StaleReport } from "../../broker.js";
import type { Host, Sandbox } from "../../types.js";
import { bytes, stamp } from "../format.js";
import { type Html, html, raw } from "../html.js";
import { csrfField, notice, page, stateBadge, type Viewer } from "../layout.js";

export interface HostRow {
  host: Host;
  live: number;
  canary: Sandbox | null;
}

/** Health from the last canary: it reached ready (ok), it failed (the error), or none ran. */
export function health(canary: Sandbox | null): { tone: "ok" | "bad" | "off"; text: string } {
  if (!canary) return { tone: "off", text: "no canary" };
  if (canary.readyAt) return { tone: "ok", text: "ok" };
  if (canary.state === "failed") return { tone: "bad", text: canary.error?.code ?? "failed" };
  return { tone: "off", text: canary.state };
}

function facts(sb: Sandbox | null): Html {
  const f = sb?.hostFacts;
  if (!f) return html`<span class="muted">-</span>`;
  const mem = typeof f.memoryAvailableBytes === "number" ? f.memoryAvailableBytes : f.memoryFreeBytes;
  return html`<span title="${String(f.os ?? "")} ${String(f.hostname ?? "")}">${String(f.kernel ?? "-")}</span> · ${String(f.cpus ?? "-")} cpu · mem ${bytes(mem)} / ${bytes(f.memoryBytes)} · disk free ${bytes(f.diskFreeBytes)}`;
}

export function hostsPage(v: Viewer, rows: HostRow[]): Html {
  const adm = v.principal.actor === "adm";
  const body = html`<div class="head"><div><h1>Hosts</h1><p class="sub">The inventory with each host's last canary (<code>sandboxer create --host NAME</code> runs one).</p></div>
${adm ? html`<a class="btn" href="/ui/hosts/stale">Check for stale resources (dry run)</a>` : ""}</div>
<div class="table-wrap"><table><thead><tr><th>Host</th>${adm ? html`<th>SSH</th>` : ""}<th>Labels</th><th>Health</th><th>Last canary facts</th><th>Canary at</th><th class="num">Live</th></tr></thead><tbody>
${rows.map(({ host: h, live, canary }) => {
  const hv = health(canary);
  const ssh = h.ssh
    ? `${h.ssh.user ? `${h.ssh.user}@` : ""}${h.ssh.host}${h.ssh.port ? `:${h.ssh.port}` : ""}`
    : h.name === "localhost"
      ? "(this machine)"
      : "(ssh_config alias)";
  return html`<tr><td><strong>${h.name}</strong></td>${adm ? html`<td class="mono">${ssh}</td>` : ""}<td>${h.labels.map((l) => html`<span class="tag">${l}</span>`)}</td><td>${stateBadge(hv.text, hv.tone)}</td><td class="wrap">${facts(canary)}</td><td>${canary ? html`<a href="/ui/sandboxes/${canary.id}">${stamp(canary.readyAt ?? canary.createdAt)}</a>` : raw('<span class="muted">-</span>')}</td><td class="num">${live}</td></tr>`;
})}
</tbody></table></div>`;
  return page(v, "Hosts", body, { section: "/ui/hosts" });
}

export function stalePage(v: Viewer, r: StaleReport, applied: ReapResult | null): Html {
  const nothing = !r.orphans.length && !r.ghosts.length;
  const body = html`<div class="head"><div><p class="sub"><a href="/ui/hosts">Hosts</a> /</p><h1>Stale resources</h1><p class="sub">Resources on hosts without a live record (orphans) and live records whose resources are gone (ghosts).</p></div></div>
${
  applied
    ? notice(
        applied.errors.length ? "bad" : "ok",
        `Applied: ${applied.removed.length} orphan(s) removed, ${applied.closed.length} record(s) closed${applied.errors.length ? `, ${applied.errors.length} error(s): ${applied.errors.map((e) => `${e.ref}: ${e.message}`).join("; ")}` : ""}.`,
      )
    : notice("ok", "Dry run: nothing was changed.")
}
<section class="panel"><h2>Hosts checked</h2><ul>${r.hosts.map((h) => html`<li><strong>${h.name}</strong>: ${h.reachable ? "reachable" : "unreachable"}${h.error ? html` <span class="muted">(${h.error})</span>` : ""}</li>`)}</ul></section>
<section class="panel"><h2>Orphans (${r.orphans.length})</h2>
${r.orphans.length ? html`<div class="table-wrap"><table><thead><tr><th>Host</th><th>Sandbox</th><th>Extension</th><th>Kind</th><th>Ref</th><th>Record</th></tr></thead><tbody>${r.orphans.map((o) => html`<tr><td>${o.host}</td><td class="mono">${o.sandboxId}</td><td>${o.extension}</td><td>${o.kind}</td><td class="mono">${o.ref}</td><td>${o.record ?? "(none)"}</td></tr>`)}</tbody></table></div>` : html`<p class="muted">None.</p>`}
</section>
<section class="panel"><h2>Ghost records (${r.ghosts.length})</h2>
${r.ghosts.length ? html`<div class="table-wrap"><table><thead><tr><th>Record</th><th>Host</th><th>State</th><th>Why</th></tr></thead><tbody>${r.ghosts.map((g) => html`<tr><td><a class="mono" href="/ui/sandboxes/${g.id}">${g.id}</a></td><td>${g.host}</td><td>${g.state}</td><td class="wrap">${g.why}</td></tr>`)}</tbody></table></div>` : html`<p class="muted">None.</p>`}
</section>
${nothing || applied ? "" : html`<form method="post" action="/ui/hosts/stale/apply">${csrfField(v)}<button type="submit" class="danger solid">Apply: remove orphans and close ghost records</button></form>`}`;
  return page(v, "Stale resources", body, { section: "/ui/hosts" });
}
