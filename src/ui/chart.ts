/** A small SVG bar chart (no chart library): spend per day. Pure. */
import { money } from "./format.js";
import { type Html, html } from "./html.js";

export interface Point {
  label: string;
  value: number;
}

export function barChart(points: Point[], opts: { title: string; width?: number; height?: number }): Html {
  const width = opts.width ?? 720;
  const height = opts.height ?? 160;
  const pad = { top: 14, right: 8, bottom: 22, left: 44 };
  const max = Math.max(0, ...points.map((p) => p.value));
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const slot = points.length ? plotW / points.length : plotW;
  const barW = Math.max(2, slot * 0.72);
  const y = (v: number) => (max > 0 ? (v / max) * plotH : 0);
  const total = points.reduce((s, p) => s + p.value, 0);
  // A label every few bars keeps 30 days readable on a narrow window.
  const every = Math.max(1, Math.ceil(points.length / 8));
  return html`<svg class="chart" viewBox="0 0 ${width} ${height}" role="img" aria-label="${opts.title}: ${money(total)} credits over ${points.length} days, at most ${money(max)} in a day">
<title>${opts.title}</title>
<line class="axis" x1="${pad.left}" y1="${pad.top + plotH}" x2="${width - pad.right}" y2="${pad.top + plotH}"/>
<text x="${pad.left - 6}" y="${pad.top + 4}" text-anchor="end">${money(max)}</text>
<text x="${pad.left - 6}" y="${pad.top + plotH}" text-anchor="end">0</text>
${points.map((p, i) => {
  const h = y(p.value);
  const x = pad.left + i * slot + (slot - barW) / 2;
  return html`<rect class="bar-r" x="${x.toFixed(1)}" y="${(pad.top + plotH - h).toFixed(1)}" width="${barW.toFixed(1)}" height="${Math.max(h, p.value > 0 ? 1 : 0).toFixed(1)}" rx="1.5"><title>${p.label}: ${money(p.value)}</title></rect>${i % every === 0 ? html`<text x="${(x + barW / 2).toFixed(1)}" y="${height - 6}" text-anchor="middle">${p.label.slice(5)}</text>` : ""}`;
})}
</svg>`;
}

/** Debits summed per UTC day for the `days` days ending today (zero days included). */
export function spendPerDay(entries: { kind: string; amount: number; at: string }[], today: Date, days = 30): Point[] {
  const out = new Map<string, number>();
  const end = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate());
  for (let i = days - 1; i >= 0; i--) out.set(new Date(end - i * 86_400_000).toISOString().slice(0, 10), 0);
  for (const e of entries) {
    if (e.kind !== "debit") continue;
    const day = e.at.slice(0, 10);
    if (out.has(day)) out.set(day, (out.get(day) ?? 0) + e.amount);
  }
  return [...out].map(([label, value]) => ({ label, value: Math.round(value * 1e6) / 1e6 }));
}
