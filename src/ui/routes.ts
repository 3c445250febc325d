/**
 * The dashboard's pages, fragments and actions. Reads and actions go through
 * the broker and the API's tenancy code (listScope, canSee, visibleSandbox),
 * never around it; everything rendered for a principal passes through viewOf.
 */
import type { Context, Hono } from "hono";
import { canSee, listScope, visibleSandbox } from "../api/tenancy.js";
import type { Principal } from "../api/tokens.js";
import { ERROR_CATALOG, SandboxerError } from "../errors.js";
import { LIVE_STATES } from "../lifecycle.js";
import { mayUse } from "../tenancy/access.js";
import type { SandboxEvent } from "../types.js";
import { accountsFor, buildLogTail, ledgerFor, readyStats, reapStaleNow, staleReport } from "./backend.js";
import { spendPerDay } from "./chart.js";
import type { UiDeps, UiEnv } from "./deps.js";
import { type Html, html } from "./html.js";
import { catalogPage, snapshotsPage } from "./pages/catalog.js";
import { creditsPage } from "./pages/credits.js";
import { eventsPage } from "./pages/events.js";
import { type HostRow, hostsPage, stalePage } from "./pages/hosts.js";
import { confirmDestroyPage, headBadge, progressPane, recordPane, type SandboxView, sandboxPage, snapshotsPane } from "./pages/sandbox.js";
import { parseTableQuery, sandboxesPage, sandboxTable, tablePage } from "./pages/sandboxes.js";
import { messageFor, viewOf } from "./view.js";

const ID_RE = /^[a-z]+-[a-z2-7]{12}$/;
const MAX_EVENTS = 300;

function checkId(id: string): string {
  // Unknown shapes are simply not there: the same 404 as another project's id.
  if (!ID_RE.test(id)) throw new SandboxerError("SBX_NOT_FOUND", `no sandbox '${id.slice(0, 64)}'`, { details: { id } });
  return id;
}

const send = (c: Context, h: Html, status = 200) => c.html(h.value, status as 200);

/** The newest events of one sandbox (oldest first), bounded. */
async function eventsOf(d: UiDeps, p: Principal, id: string): Promise<SandboxEvent[]> {
  let out: SandboxEvent[] = [];
  let after = 0;
  for (let i = 0; i < 50; i++) {
    const batch = await d.state.broker.events({ sandboxId: id, afterSeq: after, limit: 1000 });
    out = out.concat(batch).slice(-MAX_EVENTS);
    if (batch.length < 1000) break;
    after = batch.at(-1)?.seq ?? after;
  }
  return out.filter((e) => canSee(p, e.project)).map((e) => viewOf(p, e));
}

async function sandboxView(d: UiDeps, p: Principal, id: string): Promise<SandboxView> {
  const broker = d.state.broker;
  const sb = viewOf(p, await visibleSandbox(broker, p, checkId(id)));
  const [events, snaps, exts] = await Promise.all([eventsOf(d, p, sb.id), broker.snapshots({ sandboxId: sb.id }), broker.extensions()]);
  const ext = exts.find((e) => e.id === sb.extension);
  return {
    sb,
    events,
    snapshots: snaps.filter((s) => canSee(p, s.project)).map((s) => viewOf(p, s)),
    canSnapshot: Boolean(ext?.capabilities.snapshot),
    // The log is a server file that names server paths: operators only.
    log: p.actor === "adm" && sb.extension === "ext.vm-packer" && sb.mode === "build" ? await buildLogTail(broker, sb) : null,
  };
}

export function pageRoutes(ui: Hono<UiEnv>, d: UiDeps): void {
  const broker = d.state.broker;
  const now = () => broker.clock.now();

  ui.get("/", (c) => c.redirect("/ui/sandboxes", 303));

  ui.get("/sandboxes", async (c) => {
    const v = c.get("viewer");
    const q = parseTableQuery(c.req.query());
    const after = await d.seq.latest();
    const [pg, catalog, config] = await Promise.all([tablePage(broker, v.principal, q), broker.catalog(), broker.config()]);
    const choices = {
      profiles: [...catalog.profiles.values()]
        .filter((p) => mayUse(p, v.principal))
        .map((p) => p.id)
        .sort(),
      extensions: [...catalog.registrations.keys()].sort(),
      hosts: [...config.hosts.keys()].sort(),
    };
    return send(c, sandboxesPage(v, pg, q, choices, after, now()));
  });

  ui.get("/fragments/sandboxes", async (c) => {
    const v = c.get("viewer");
    const q = parseTableQuery(c.req.query());
    return send(c, sandboxTable(v.principal, await tablePage(broker, v.principal, q), q, now()));
  });

  ui.get("/sandboxes/:id", async (c) => {
    const v = c.get("viewer");
    const after = await d.seq.latest();
    const x = await sandboxView(d, v.principal, c.req.param("id"));
    return send(c, sandboxPage(v, x, after, now(), { done: c.req.query("done") }));
  });

  ui.get("/sandboxes/:id/fragments/:pane", async (c) => {
    const v = c.get("viewer");
    const x = await sandboxView(d, v.principal, c.req.param("id"));
    const pane = c.req.param("pane");
    if (pane === "record") return send(c, recordPane(v, x, now()));
    if (pane === "progress") return send(c, progressPane(x));
    if (pane === "snapshots") return send(c, snapshotsPane(x));
    if (pane === "state") return send(c, headBadge(x.sb));
    // One request for every pane that follows the stream (app.js swaps each by id).
    if (pane === "all") return send(c, html`<div>${headBadge(x.sb)}${recordPane(v, x, now())}${progressPane(x)}${snapshotsPane(x)}</div>`);
    throw new SandboxerError("SBX_NOT_FOUND", `no pane '${pane.slice(0, 40)}'`);
  });

  ui.get("/sandboxes/:id/destroy", async (c) => {
    const v = c.get("viewer");
    const sb = viewOf(v.principal, await visibleSandbox(broker, v.principal, checkId(c.req.param("id"))));
    return send(c, confirmDestroyPage(v, sb));
  });

  /** Run an action the way its API route does (visibleSandbox first), then show the page with the outcome. */
  const action = (name: string, run: (id: string, form: Record<string, unknown>) => Promise<unknown>) => async (c: Context<UiEnv>) => {
    const v = c.get("viewer");
    const id = checkId(c.req.param("id") ?? "");
    await visibleSandbox(broker, v.principal, id);
    const form = await c.req.parseBody();
    try {
      await run(id, form);
    } catch (err) {
      if (!(err instanceof SandboxerError) || ["SBX_NOT_FOUND", "SBX_INTERNAL"].includes(err.code)) throw err;
      const x = await sandboxView(d, v.principal, id);
      const status = ERROR_CATALOG[err.code].http;
      return send(
        c,
        sandboxPage(v, x, await d.seq.latest(), now(), { error: `${name}: ${messageFor(v.principal, err.message)}` }),
        status >= 400 && status < 500 ? status : 409,
      );
    }
    return c.redirect(`/ui/sandboxes/${id}?done=${name}`, 303);
  };
  const str = (v: unknown) => (typeof v === "string" ? v.trim() : "");
  ui.post(
    "/sandboxes/:id/destroy",
    action("destroyed", (id) => broker.destroy(id)),
  );
  ui.post(
    "/sandboxes/:id/ttl",
    action("ttl", (id, f) => broker.extendTtl(id, str(f.duration).slice(0, 20))),
  );
  ui.post(
    "/sandboxes/:id/snapshot",
    action("snapshot", (id, f) => broker.snapshot(id, { name: str(f.name) ? str(f.name).slice(0, 64) : undefined })),
  );

  ui.get("/hosts", async (c) => {
    const v = c.get("viewer");
    const scope = listScope(v.principal, undefined);
    const hosts = [...(await broker.config()).hosts.values()];
    const rows: HostRow[] = [];
    for (const host of hosts) {
      const live = (await broker.list({ states: LIVE_STATES, host: host.name, project: scope?.project })).filter((s) => canSee(v.principal, s.project));
      const canaries = (await broker.list({ profile: "profile.sandbox-canary", host: host.name, project: scope?.project })).filter(
        (s) => canSee(v.principal, s.project) && s.hostFacts,
      );
      const last = canaries.at(-1);
      rows.push({ host, live: live.length, canary: last ? viewOf(v.principal, last) : null });
    }
    return send(c, hostsPage(v, rows));
  });

  const admOnly = (p: Principal) => {
    // Stale resources span every project: for tenants the page is simply not there.
    if (p.actor !== "adm") throw new SandboxerError("SBX_NOT_FOUND", "no such page");
  };
  ui.get("/hosts/stale", async (c) => {
    const v = c.get("viewer");
    admOnly(v.principal);
    return send(c, stalePage(v, await staleReport(broker), null));
  });
  ui.post("/hosts/stale/apply", async (c) => {
    const v = c.get("viewer");
    admOnly(v.principal);
    const r = await reapStaleNow(broker);
    return send(c, stalePage(v, r, r));
  });

  ui.get("/credits", async (c) => {
    const v = c.get("viewer");
    const today = now();
    const since = new Date(today.getTime() - 29 * 86_400_000).toISOString().slice(0, 10);
    const [accounts, month, ledger] = await Promise.all([
      accountsFor(broker, v.principal),
      ledgerFor(broker, v.principal, { since: `${since}T00:00:00.000Z` }),
      ledgerFor(broker, v.principal, { limit: 100 }),
    ]);
    return send(c, creditsPage(v, accounts, spendPerDay(month, today), ledger, since));
  });

  ui.get("/credits/export", async (c) => {
    const v = c.get("viewer");
    const text = c.req.query("since") ?? "";
    if (!/^\d{4}-\d{2}-\d{2}$/.test(text) || Number.isNaN(Date.parse(`${text}T00:00:00Z`))) {
      throw new SandboxerError("SBX_USAGE", "since: a date like 2026-01-01", { details: { field: "since" } });
    }
    const entries = await ledgerFor(broker, v.principal, { since: new Date(`${text}T00:00:00Z`).toISOString() });
    c.header("Content-Type", "application/x-ndjson; charset=utf-8");
    c.header("Content-Disposition", `attachment; filename="sandboxer-credits-since-${text}.jsonl"`);
    return c.body(entries.map((e) => `${JSON.stringify(e)}\n`).join(""));
  });

  ui.get("/snapshots", async (c) => {
    const v = c.get("viewer");
    const scope = listScope(v.principal, undefined);
    const snaps = scope ? await broker.snapshots({ project: scope.project }) : [];
    return send(
      c,
      snapshotsPage(
        v,
        snaps.filter((s) => canSee(v.principal, s.project)).map((s) => viewOf(v.principal, s)),
      ),
    );
  });

  ui.get("/catalog", async (c) => {
    const v = c.get("viewer");
    const [catalog, exts, config] = await Promise.all([broker.catalog(), broker.extensions(), broker.config()]);
    const hosts = [...config.hosts.keys()];
    const stats = await readyStats(
      broker,
      exts.flatMap((e) => hosts.map((h) => [e.id, h] as [string, string])),
    );
    // As GET /v1/profiles: a tenant sees the profiles it may use.
    const profiles = [...catalog.profiles.values()].filter((p) => mayUse(p, v.principal)).sort((a, b) => a.id.localeCompare(b.id));
    return send(c, catalogPage(v, profiles, exts, stats, hosts));
  });

  ui.get("/events", async (c) => {
    const v = c.get("viewer");
    const after = await d.seq.latest();
    // The newest visible events: read back from the end in windows of 1,000 seqs (at most 20).
    let items: SandboxEvent[] = [];
    for (let to = after, n = 0; items.length < 100 && to > 0 && n < 20; n++) {
      const from = Math.max(0, to - 1000);
      const batch = (await broker.events({ afterSeq: from, limit: 1000 })).filter((e) => e.seq <= to && canSee(v.principal, e.project));
      items = batch.concat(items);
      to = from;
    }
    return send(
      c,
      eventsPage(
        v,
        items.slice(-100).map((e) => viewOf(v.principal, e)),
        after,
      ),
    );
  });
}
