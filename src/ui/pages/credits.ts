/** Credits: balances per project, spend per day, the ledger, and the export link. */
import type { Account, LedgerEntry } from "../../credits/ledger.js";
import { barChart, type Point } from "../chart.js";
import { money, stamp } from "../format.js";
import { type Html, html, raw } from "../html.js";
import { page, type Viewer } from "../layout.js";

export function creditsPage(v: Viewer, accounts: Account[], spend: Point[], ledger: LedgerEntry[], exportSince: string): Html {
  const total = spend.reduce((s, p) => s + p.value, 0);
  const body = html`<div class="head"><div><h1>Credits</h1><p class="sub">Metered backends reserve price × TTL at create and settle what was used at destroy.</p></div></div>
<div class="cards">
${
  accounts.length
    ? accounts.map(
        (a) =>
          html`<div class="card"><div class="label">${a.account === "default" ? "default (no project)" : a.account}</div><div class="big">${money(a.available)}</div><div class="muted small">available · balance ${money(a.balance)} · reserved ${money(a.reserved)}</div></div>`,
      )
    : html`<div class="card"><div class="label">accounts</div><div class="muted">No credit accounts yet (<code>sandboxer credits add AMOUNT --project P</code>).</div></div>`
}
</div>
<section class="panel" aria-labelledby="spend-h">
<div class="head"><h2 id="spend-h">Spend per day (last ${spend.length} days)</h2><span class="muted">${money(total)} credits</span></div>
${total > 0 ? html`<figure>${barChart(spend, { title: "Credits spent per day" })}</figure>` : html`<p class="muted">No metered spend in this period.</p>`}
</section>
<section class="panel" aria-labelledby="ledger-h">
<div class="head"><h2 id="ledger-h">Ledger (latest ${ledger.length})</h2>
<form class="actions" method="get" action="/ui/credits/export"><label class="field">Export since<input name="since" value="${exportSince}" size="10" pattern="\\d{4}-\\d{2}-\\d{2}"></label><button type="submit">Download JSON lines</button></form>
</div>
<div class="table-wrap"><table><thead><tr><th>At</th><th>Account</th><th>Kind</th><th class="num">Amount</th><th class="num">Balance</th><th class="num">Reserved</th><th>Sandbox</th></tr></thead><tbody>
${
  ledger.length
    ? [...ledger]
        .reverse()
        .map(
          (e) =>
            html`<tr><td>${stamp(e.at)}</td><td>${e.account}</td><td><span class="tag${e.kind === "add" ? " yes" : ""}">${e.kind}</span></td><td class="num">${e.kind === "debit" ? "−" : e.kind === "add" ? "+" : ""}${money(e.amount)}</td><td class="num">${money(e.balance)}</td><td class="num">${money(e.reserved)}</td><td>${e.sandboxId ? html`<a class="mono" href="/ui/sandboxes/${e.sandboxId}">${e.sandboxId}</a>` : raw('<span class="muted">-</span>')}</td></tr>`,
        )
    : html`<tr><td colspan="7" class="empty">No ledger entries.</td></tr>`
}
</tbody></table></div>
</section>`;
  return page(v, "Credits", body, { section: "/ui/credits" });
}
