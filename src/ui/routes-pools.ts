/**
 * The pools pages and their two actions. Pools belong to no project (members
 * are nobody's until claimed), so like GET /v1/pools they are the operator's
 * only: for a tenant session every /ui/pools path is simply not there (404),
 * as the stale-resources page. Actions name a pool by its key and act on the
 * profile and inputs the broker lists for it, never on inputs from the form.
 */
import type { Context, Hono } from "hono";
import type { Principal } from "../api/tokens.js";
import type { Catalog } from "../catalog/load.js";
import type { Profile } from "../catalog/schema.js";
import { ERROR_CATALOG, SandboxerError } from "../errors.js";
import { poolsView } from "./backend.js";
import type { UiDeps, UiEnv } from "./deps.js";
import type { Html } from "./html.js";
import { confirmDrainPage, type PoolTarget, poolEditPage, poolsPage } from "./pages/pools.js";
import { messageFor } from "./view.js";

const send = (c: Context, h: Html, status = 200) => c.html(h.value, status as 200);
const str = (v: unknown) => (typeof v === "string" ? v.trim() : "");

function admOnly(p: Principal): void {
  if (p.actor !== "adm") throw new SandboxerError("SBX_NOT_FOUND", "no such page");
}

/** The highest price per hour among the extensions that may serve the profile. */
function priceOf(catalog: Catalog, p: Profile): number {
  const ids = p.extension ? [p.extension] : (p.route?.candidates ?? []);
  return Math.max(0, ...ids.map((id) => catalog.registrations.get(id)?.pricePerHour ?? 0));
}

export function poolRoutes(ui: Hono<UiEnv>, d: UiDeps): void {
  const broker = d.state.broker;
  const now = () => broker.clock.now();

  /** The pool of `key`, or for `profile` its plain pool if any: unknown ones are a 404, as an unknown sandbox id. */
  async function target(form: { pool?: string; profile?: string }): Promise<PoolTarget> {
    const catalog = await broker.catalog();
    const view = await poolsView(broker);
    if (form.pool) {
      const current = view.pools.find((p) => p.key === form.pool);
      const profile = current && catalog.profiles.get(current.profile);
      if (!current || !profile)
        throw new SandboxerError("SBX_NOT_FOUND", `no pool '${form.pool.slice(0, 200)}' (see: sandboxer pools list)`, { details: { field: "pool" } });
      return { key: current.key, profile, current };
    }
    const profile = catalog.profiles.get(form.profile ?? "");
    if (!profile) throw new SandboxerError("SBX_NOT_FOUND", `no profile '${(form.profile ?? "").slice(0, 100)}'`, { details: { field: "profile" } });
    return { key: profile.id, profile, current: view.pools.find((p) => p.key === profile.id) };
  }

  ui.get("/pools", async (c) => {
    const v = c.get("viewer");
    admOnly(v.principal);
    const after = await d.seq.latest();
    const [view, catalog] = await Promise.all([poolsView(broker), broker.catalog()]);
    const profiles = [...catalog.profiles.values()].sort((a, b) => a.id.localeCompare(b.id));
    return send(c, poolsPage(v, view, profiles, now(), after, { done: c.req.query("done"), destroyed: c.req.query("destroyed") }));
  });

  ui.get("/pools/edit", async (c) => {
    const v = c.get("viewer");
    admOnly(v.principal);
    const t = await target({ pool: c.req.query("pool"), profile: c.req.query("profile") });
    return send(c, poolEditPage(v, t, priceOf(await broker.catalog(), t.profile)));
  });

  ui.post("/pools/set", async (c) => {
    const v = c.get("viewer");
    admOnly(v.principal);
    const f = await c.req.parseBody();
    const t = await target({ pool: str(f.pool) || undefined, profile: str(f.profile) || undefined });
    const form = { size: str(f.size).slice(0, 10), maxIdle: str(f.maxIdle).slice(0, 20) };
    try {
      if (!/^\d{1,4}$/.test(form.size)) throw new SandboxerError("SBX_USAGE", "size: a whole number from 0 to 1000", { details: { field: "size" } });
      await broker.setPool({ profile: t.profile.id, size: Number(form.size), maxIdle: form.maxIdle || undefined, inputs: t.current?.inputs ?? {} });
    } catch (err) {
      if (!(err instanceof SandboxerError) || ["SBX_NOT_FOUND", "SBX_INTERNAL"].includes(err.code)) throw err;
      const status = ERROR_CATALOG[err.code].http;
      return send(
        c,
        poolEditPage(v, t, priceOf(await broker.catalog(), t.profile), form, `set size: ${messageFor(v.principal, err.message)}`),
        status >= 400 && status < 500 ? status : 409,
      );
    }
    return c.redirect("/ui/pools?done=set", 303);
  });

  ui.get("/pools/drain", async (c) => {
    const v = c.get("viewer");
    admOnly(v.principal);
    const t = await target({ pool: c.req.query("pool") ?? "" });
    if (!t.current) throw new SandboxerError("SBX_NOT_FOUND", "no such pool");
    return send(c, confirmDrainPage(v, t.current));
  });

  ui.post("/pools/drain", async (c) => {
    const v = c.get("viewer");
    admOnly(v.principal);
    const f = await c.req.parseBody();
    const t = await target({ pool: str(f.pool) });
    // The pool's own inputs ({} for the plain pool): never every pool of the profile at once.
    const r = await broker.drainPool(t.profile.id, { inputs: t.current?.inputs ?? {} });
    return c.redirect(`/ui/pools?done=drained&destroyed=${r.destroyed.length}`, 303);
  });
}
