/** Snapshots, and the catalog: profiles and extensions (capabilities, price, time to ready). */
import type { ExtensionInfo } from "../../broker.js";
import type { Profile } from "../../catalog/schema.js";
import type { ReadyStats } from "../../broker.js";
import { bytes, stamp } from "../format.js";
import { type Html, html, raw } from "../html.js";
import { page, type Viewer } from "../layout.js";
import type { SnapshotView } from "../view.js";

export function snapshotsPage(v: Viewer, snaps: SnapshotView[]): Html {
  const adm = v.principal.actor === "adm";
  const body = html`<div class="head"><div><h1>Snapshots</h1><p class="sub">Workspace checkpoints; <code>sandboxer restore SNAPSHOT</code> creates a new sandbox from one.</p></div></div>
<div class="table-wrap"><table><thead><tr><th>ID</th><th>Name</th><th>Sandbox</th><th>Profile</th><th>Extension</th><th>Host</th>${adm ? html`<th>Project</th>` : ""}<th class="num">Size</th><th>Created</th></tr></thead><tbody>
${
  snaps.length
    ? [...snaps]
        .reverse()
        .map(
          (s) =>
            html`<tr><td class="mono">${s.id}</td><td>${s.name ?? ""}</td><td><a class="mono" href="/ui/sandboxes/${s.sandboxId}">${s.sandboxId}</a></td><td>${s.profile}</td><td>${s.extension}</td><td>${s.host}</td>${adm ? html`<td>${s.project ?? "-"}</td>` : ""}<td class="num">${bytes(s.sizeBytes)}</td><td>${stamp(s.createdAt)}</td></tr>`,
        )
    : html`<tr><td colspan="${adm ? 9 : 8}" class="empty">No snapshots.</td></tr>`
}
</tbody></table></div>`;
  return page(v, "Snapshots", body, { section: "/ui/snapshots" });
}

const CAPS = ["exec", "snapshot", "restore", "build", "execService", "gpu"] as const;

function measured(ext: ExtensionInfo, stats: ReadonlyMap<string, ReadyStats>, hosts: string[]): Html {
  const found = hosts.map((h) => [h, stats.get(`${ext.id}@${h}`)] as const).filter((x): x is readonly [string, ReadyStats] => x[1] !== undefined);
  if (!found.length) return raw('<span class="muted">no samples</span>');
  return html`${found.map(([h, s]) => html`<div>${s.p50Seconds.toFixed(2)}s <div class="muted small">p50 of ${s.samples} on ${h}</div></div>`)}`;
}

export function catalogPage(v: Viewer, profiles: Profile[], exts: ExtensionInfo[], stats: ReadonlyMap<string, ReadyStats>, hosts: string[]): Html {
  const body = html`<div class="head"><div><h1>Profiles & extensions</h1><p class="sub">What a create can ask for, and which backend serves it at what price and speed.</p></div></div>
<section class="panel" aria-labelledby="ext-h"><h2 id="ext-h">Extensions</h2>
<div class="table-wrap"><table><thead><tr><th>Extension</th><th>Kind</th><th>Capabilities</th><th class="num">Price / h</th><th class="num">Expected ready</th><th>Measured time to ready</th><th>Limits</th></tr></thead><tbody>
${exts.map(
  (e) =>
    html`<tr><td class="desc"><strong>${e.id}</strong>${e.enabled ? "" : html` <span class="st st-off">disabled</span>`}<div class="muted small">${e.description}</div></td><td>${e.kind}</td><td class="wrap caps">${CAPS.some((c) => e.capabilities[c]) ? CAPS.filter((c) => e.capabilities[c]).map((c) => html`<span class="tag yes">${c}</span>`) : raw('<span class="muted">-</span>')}</td><td class="num">${e.pricePerHour ? `${e.pricePerHour} ${e.currency}` : "free"}</td><td class="num">${e.expectedReadySeconds}s</td><td>${measured(e, stats, hosts)}</td><td class="small">${e.limits.maxSandboxes ? `≤ ${e.limits.maxSandboxes} live` : ""}${e.limits.maxTtl ? ` · TTL ≤ ${e.limits.maxTtl}` : ""}</td></tr>`,
)}
</tbody></table></div></section>
<section class="panel" aria-labelledby="prof-h"><h2 id="prof-h">Profiles</h2>
<div class="table-wrap"><table><thead><tr><th>Profile</th><th>Serves with</th><th>TTL (default / max)</th><th>Placement</th><th>Inputs</th></tr></thead><tbody>
${profiles.map(
  (p) =>
    html`<tr><td class="desc"><strong>${p.id}</strong> <span class="muted">v${p.version}</span><div class="muted small">${p.description}</div></td><td>${p.extension ?? html`${p.route?.strategy}: ${p.route?.candidates.join(", ")}`}${p.mode ? html` <span class="tag">${p.mode}</span>` : ""}</td><td>${p.ttl.default} / ${p.ttl.max}</td><td>${p.placement.hosts.join(", ")}${p.placement.labels.length ? html` <span class="muted">[${p.placement.labels.join(", ")}]</span>` : ""}</td><td class="wrap small inputs">${Object.keys(p.inputs).map((k) => html`<code>${k}</code> `)}</td></tr>`,
)}
</tbody></table></div></section>`;
  return page(v, "Profiles & extensions", body, { section: "/ui/catalog" });
}
