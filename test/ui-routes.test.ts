/**
 * The dashboard in process (`app.request()`, no socket) on a real store and
 * real bubblewrap sandboxes: every page and fragment, sign-in and sessions,
 * CSRF, the live stream and the actions. Tenant isolation: ui-tenancy.test.ts.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Sandbox } from "../src/types.js";
import type { ApiFixture } from "./helpers/api.js";
import { readSse, sseMessages, type UiSession, type UiWorld, uiLogin, uiWorld } from "./helpers/ui.js";

const MIN_SERVED = 30;
let w: UiWorld;
let fx: ApiFixture;
let adm: UiSession;
let mine: Sandbox;
let theirs: Sandbox;
let theirSnap: string;
const text = (r: Response | Promise<Response>) => w.text(r);

beforeAll(async () => {
  w = await uiWorld();
  ({ fx, adm, mine, theirs, theirSnap } = w);
});

afterAll(async () => {
  await fx?.cleanup();
});

describe("sign-in and sessions", () => {
  it("pages without a session send the browser to the login form; the stream and posts are 401", async () => {
    for (const path of ["/ui", "/ui/sandboxes", `/ui/sandboxes/${mine.id}`, "/ui/hosts", "/ui/credits", "/ui/events"]) {
      const r = await fx.app.request(path);
      expect(r.status, path).toBe(303);
      expect(r.headers.get("location")).toBe(["/ui", "/ui/sandboxes"].includes(path) ? "/ui/login" : `/ui/login?next=${encodeURIComponent(path)}`);
    }
    expect((await fx.app.request("/ui/stream?view=table")).status).toBe(401);
    const post = await fx.app.request(`/ui/sandboxes/${mine.id}/destroy`, { method: "POST" });
    expect(post.status).toBe(401);
    const hx = await fx.app.request("/ui/sandboxes", { headers: { "HX-Request": "true" } });
    expect(hx.headers.get("HX-Redirect")).toBe("/ui/login");
  });

  it("after sign-in the browser goes where it was headed: a dashboard path, never another site", async () => {
    const form = await fx.app.request(`/ui/login?next=${encodeURIComponent(`/ui/sandboxes/${mine.id}`)}`);
    const body = await text(form);
    expect(body).toContain(`name="next" value="/ui/sandboxes/${mine.id}"`);
    const cookie = (form.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    const csrf = /name="_csrf" value="([^"]+)"/.exec(body)?.[1] ?? "";
    const post = (next: string) =>
      fx.app.request("/ui/login", {
        method: "POST",
        headers: { Cookie: cookie, "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ _csrf: csrf, token: fx.tokens.adm, next }).toString(),
      });
    expect((await post(`/ui/sandboxes/${mine.id}`)).headers.get("location")).toBe(`/ui/sandboxes/${mine.id}`);
    for (const evil of ["https://evil.example/", "//evil.example/ui/", "/ui//evil.example", "/v1/sandboxes", "javascript:alert(1)"]) {
      expect((await post(evil)).headers.get("location"), evil).toBe("/ui/sandboxes");
    }
    expect(await text(fx.app.request("/ui/login?next=https%3A%2F%2Fevil.example"))).not.toContain("evil.example");
  });

  it("the login form has a field named token and a CSRF value; the cookie holds a random session id", async () => {
    const form = await fx.app.request("/ui/login");
    const body = await text(form);
    expect(body).toMatch(/<input[^>]+name="token"/);
    expect(body).toMatch(/name="_csrf" value="[A-Za-z0-9_-]{43}"/);
    expect(adm.cookie).toMatch(/^sbx_ui=[A-Za-z0-9_-]{43}$/);
    expect(adm.cookie).not.toContain(fx.tokens.adm.replace(/^sbx_tok-[a-z2-7]{12}_/, ""));
  });

  it("cookies are HttpOnly, SameSite=Strict, scoped to /ui, and Secure only over TLS", async () => {
    const plain = (await fx.app.request("/ui/login")).headers.get("set-cookie") ?? "";
    expect(plain).toMatch(/HttpOnly/);
    expect(plain).toMatch(/SameSite=Strict/);
    expect(plain).toMatch(/Path=\/ui/);
    expect(plain).not.toMatch(/Secure/);
    const tls = (await fx.app.request("https://dash.example/ui/login")).headers.get("set-cookie") ?? "";
    expect(tls).toMatch(/Secure/);
    const proxied = (await fx.app.request("/ui/login", { headers: { "X-Forwarded-Proto": "https" } })).headers.get("set-cookie") ?? "";
    expect(proxied).toMatch(/Secure/);
  });

  it("a wrong token is refused without echoing it; a login without its CSRF cookie or from another site is refused", async () => {
    const form = await fx.app.request("/ui/login");
    const cookie = (form.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? "";
    const bogus = "sbx_tok-aaaaaaaaaaaa_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const send = (body: Record<string, string>, headers: Record<string, string> = {}) =>
      fx.app.request("/ui/login", {
        method: "POST",
        headers: { Cookie: cookie, "Content-Type": "application/x-www-form-urlencoded", ...headers },
        body: new URLSearchParams(body).toString(),
      });
    const wrong = await send({ _csrf: csrf, token: bogus });
    expect(wrong.status).toBe(401);
    const page = await text(wrong);
    expect(page).toContain("unknown, malformed or revoked");
    expect(page).not.toContain(bogus);
    expect(wrong.headers.get("set-cookie") ?? "").not.toMatch(/sbx_ui=/);
    // A valid token with no CSRF value, or posted cross-site, signs nobody in.
    const noCsrf = await send({ token: fx.tokens.adm });
    expect(noCsrf.status).toBe(403);
    expect(noCsrf.headers.get("set-cookie") ?? "").not.toMatch(/sbx_ui=[^;]/);
    const cross = await send({ _csrf: csrf, token: fx.tokens.adm }, { Origin: "https://evil.example", "Sec-Fetch-Site": "cross-site" });
    expect(cross.status).toBe(403);
    expect(await text(noCsrf)).not.toContain(fx.tokens.adm);
  });

  it("logout ends the session (CSRF-protected); a revoked token ends its sessions at once", async () => {
    const s = await uiLogin(fx, fx.tokens.adm);
    expect((await s.post("/ui/logout", {}, { csrf: null })).status).toBe(403);
    expect((await s.get("/ui/sandboxes")).status).toBe(200);
    const out = await s.post("/ui/logout");
    expect(out.status).toBe(303);
    expect(out.headers.get("set-cookie")).toMatch(/sbx_ui=;/);
    expect((await s.get("/ui/sandboxes")).status).toBe(303);

    const { token, info } = await fx.broker.createToken({ actor: "agt", project: "p1" });
    const t = await uiLogin(fx, token);
    expect((await t.get("/ui/sandboxes")).status).toBe(200);
    await fx.broker.revokeToken(info.tokenId);
    expect((await t.get("/ui/sandboxes")).status).toBe(303);
  });
});

describe("every page and fragment (operator)", () => {
  const pages = () => [
    "/ui/sandboxes",
    "/ui/sandboxes?state=all&limit=1",
    "/ui/fragments/sandboxes",
    `/ui/sandboxes/${mine.id}`,
    `/ui/sandboxes/${mine.id}/fragments/record`,
    `/ui/sandboxes/${mine.id}/fragments/progress`,
    `/ui/sandboxes/${mine.id}/fragments/snapshots`,
    `/ui/sandboxes/${mine.id}/fragments/state`,
    `/ui/sandboxes/${mine.id}/fragments/all`,
    `/ui/sandboxes/${mine.id}/destroy`,
    "/ui/hosts",
    "/ui/credits",
    "/ui/snapshots",
    "/ui/catalog",
    "/ui/events",
  ];

  it("answers 200 HTML with a strict CSP and no caching", async () => {
    for (const path of pages()) {
      const r = await adm.get(path);
      const body = await text(r);
      expect(r.status, `${path}: ${body.slice(0, 300)}`).toBe(200);
      expect(r.headers.get("content-type")).toContain("text/html");
      expect(r.headers.get("content-security-policy")).toContain("script-src 'self'");
      expect(r.headers.get("cache-control")).toBe("no-store");
      expect(r.headers.get("x-frame-options")).toBe("DENY");
    }
  });

  it("shows what each page is for", async () => {
    const table = await text(adm.get("/ui/sandboxes"));
    expect(table).toContain(`id="row-${mine.id}"`);
    expect(table).toContain(`id="row-${theirs.id}"`);
    expect(table).toMatch(/data-stream="\/ui\/stream\?[^"]*view=table/);
    const sb = await text(adm.get(`/ui/sandboxes/${mine.id}`));
    expect(sb).toContain("sandbox.ready");
    expect(sb).toContain(`sandboxer exec ${mine.id} -- CMD...`);
    expect(sb).toContain(`href="/ui/sandboxes/${mine.id}/destroy"`);
    expect(await text(adm.get(`/ui/sandboxes/${mine.id}/destroy`))).toContain(`action="/ui/sandboxes/${mine.id}/destroy"`);
    const credits = await text(adm.get("/ui/credits"));
    expect(credits).toContain('<svg class="chart"');
    expect(credits).toMatch(/>p1</);
    expect(credits).toMatch(/>p2</);
    expect(credits).toContain('action="/ui/credits/export"');
    expect(await text(adm.get("/ui/snapshots"))).toContain(theirSnap);
    const catalog = await text(adm.get("/ui/catalog"));
    expect(catalog).toContain("ext.vm-packer");
    expect(catalog).toContain("profile.sandbox-canary");
    expect(catalog).toMatch(/p50 of \d+ on localhost/);
    const hosts = await text(adm.get("/ui/hosts"));
    expect(hosts).toContain("localhost");
    expect(hosts).toContain('href="/ui/hosts/stale"');
    expect(await text(adm.get("/ui/events"))).toContain("credits.debited");
  });

  it("paging: a page of one, then the next by cursor", async () => {
    const first = await text(adm.get("/ui/sandboxes?state=all&limit=1"));
    const next = /href="(\/ui\/sandboxes\?[^"]*cursor=[^"]+)"/.exec(first)?.[1]?.replaceAll("&amp;", "&");
    expect(next).toBeTruthy();
    const second = await text(adm.get(next ?? ""));
    const ids = (t: string) => [...t.matchAll(/id="row-(sbx-[a-z2-7]{12})"/g)].map((m) => m[1]);
    expect(ids(first)).toHaveLength(1);
    expect(ids(second)).toHaveLength(1);
    expect(ids(second)[0]).not.toBe(ids(first)[0]);
  });

  it("filters narrow the table; bad filters are a 400 page naming the field", async () => {
    const local = await text(adm.get("/ui/sandboxes?extension=ext.saas-stub&state=all"));
    expect(local).not.toContain(`row-${mine.id}`);
    expect(local).toMatch(/row-sbx-/);
    const bad = await adm.get("/ui/sandboxes?state=bogus");
    expect(bad.status).toBe(400);
    expect(await text(bad)).toContain("state:");
    expect((await adm.get("/ui/sandboxes?profile=%3Cscript%3E")).status).toBe(400);
  });

  it("stale resources: a dry run that changes nothing, then an apply that removes the orphan", async () => {
    // A workspace named by a sandbox id that has no record: what a lost record leaves behind.
    const orphan = join(fx.home.env.SANDBOXER_HOME as string, "workspaces", "sbx-zzzzzzzzzzzz");
    mkdirSync(orphan, { recursive: true });
    const r = await adm.get("/ui/hosts/stale");
    expect(r.status).toBe(200);
    const dry = await text(r);
    expect(dry).toContain("Dry run: nothing was changed.");
    expect(dry).toContain("sbx-zzzzzzzzzzzz");
    expect(existsSync(orphan)).toBe(true);
    expect((await adm.post("/ui/hosts/stale/apply", {}, { csrf: null })).status).toBe(403);
    expect(existsSync(orphan)).toBe(true);
    const applied = await adm.post("/ui/hosts/stale/apply");
    expect(applied.status).toBe(200);
    expect(await text(applied)).toMatch(/Applied: 1 orphan\(s\) removed/);
    expect(existsSync(orphan)).toBe(false);
    expect((await fx.broker.get(mine.id)).state).toBe("ready");
  });

  it("credits export: JSON lines of the ledger since a date", async () => {
    const day = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const r = await adm.get(`/ui/credits/export?since=${day}`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-disposition")).toContain("attachment");
    const lines = (await r.text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { account: string; kind: string });
    expect(new Set(lines.map((l) => l.account))).toEqual(new Set(["p1", "p2"]));
    expect((await adm.get("/ui/credits/export?since=yesterday")).status).toBe(400);
  });

  it("assets come from our files and node_modules, cached for a year under their hash", async () => {
    const page = await text(adm.get("/ui/sandboxes"));
    for (const name of ["app.css", "app.js", "htmx.min.js"]) {
      const url = new RegExp(`/ui/assets/${name.replace(".", "\\.")}\\?v=[0-9a-f]{12}`).exec(page)?.[0];
      expect(url, name).toBeTruthy();
      const r = await fx.app.request(url ?? "");
      expect(r.status).toBe(200);
      expect(r.headers.get("cache-control")).toContain("immutable");
      const again = await fx.app.request(url ?? "", { headers: { "If-None-Match": r.headers.get("etag") ?? "" } });
      expect(again.status).toBe(304);
    }
    expect(await (await fx.app.request(/\/ui\/assets\/htmx\.min\.js\?v=\w+/.exec(page)?.[0] ?? "")).text()).toContain("htmx");
    expect((await fx.app.request("/ui/assets/../../package.json")).status).not.toBe(200);
    expect((await fx.app.request("/ui/assets/nope.js")).status).toBe(404);
  });

  it("unknown pages are an HTML 404", async () => {
    const r = await adm.get("/ui/nothing-here");
    expect(r.status).toBe(404);
    expect(r.headers.get("content-type")).toContain("text/html");
    expect((await adm.get("/ui/sandboxes/sbx-aaaaaaaaaaaa")).status).toBe(404);
    expect((await adm.get("/ui/sandboxes/..%2F..%2Fetc")).status).toBe(404);
  });
});

describe("actions (operator)", () => {
  it("a post without the CSRF value, with a wrong one, or from another site changes nothing", async () => {
    const before = (await fx.broker.get(mine.id)).expiresAt;
    expect((await adm.post(`/ui/sandboxes/${mine.id}/ttl`, { duration: "1h" }, { csrf: null })).status).toBe(403);
    expect((await adm.post(`/ui/sandboxes/${mine.id}/ttl`, { duration: "1h" }, { csrf: "x".repeat(43) })).status).toBe(403);
    expect((await adm.post(`/ui/sandboxes/${mine.id}/ttl`, { duration: "1h" }, { headers: { Origin: "https://evil.example" } })).status).toBe(403);
    expect((await adm.post(`/ui/sandboxes/${mine.id}/destroy`, {}, { csrf: null })).status).toBe(403);
    expect((await fx.broker.get(mine.id)).expiresAt).toBe(before);
    expect((await fx.broker.get(mine.id)).state).toBe("ready");
  });

  it("extend TTL (form field or htmx header), snapshot, then destroy", async () => {
    const before = Date.parse((await fx.broker.get(mine.id)).expiresAt ?? "");
    const r = await adm.post(`/ui/sandboxes/${mine.id}/ttl`, { duration: "30m" });
    expect(r.status).toBe(303);
    expect(r.headers.get("location")).toBe(`/ui/sandboxes/${mine.id}?done=ttl`);
    expect(Date.parse((await fx.broker.get(mine.id)).expiresAt ?? "")).toBeGreaterThan(before);
    expect(await text(adm.get(`/ui/sandboxes/${mine.id}?done=ttl`))).toContain("TTL extended.");
    const hx = await fx.app.request(`/ui/sandboxes/${mine.id}/ttl`, {
      method: "POST",
      headers: { Cookie: adm.cookie, "X-CSRF-Token": adm.csrf, "Content-Type": "application/x-www-form-urlencoded" },
      body: "duration=5m",
    });
    expect(hx.status).toBe(303);

    // Bad input: the broker's message on the page (escaped), nothing changed.
    const expires = (await fx.broker.get(mine.id)).expiresAt;
    const bad = await adm.post(`/ui/sandboxes/${mine.id}/ttl`, { duration: "<script>alert(1)</script>" });
    expect(bad.status).toBe(400);
    const badPage = await text(bad);
    expect(badPage).toMatch(/role="alert">ttl: /);
    expect(badPage).not.toContain("<script>alert");
    expect((await fx.broker.get(mine.id)).expiresAt).toBe(expires);
    const badName = await adm.post(`/ui/sandboxes/${mine.id}/snapshot`, { name: "<img src=x onerror=alert(1)>" });
    expect(badName.status).toBe(400);
    expect(await text(badName)).not.toContain("<img src=x");
    expect(await fx.broker.snapshots({ sandboxId: mine.id })).toHaveLength(0);

    const snap = await adm.post(`/ui/sandboxes/${mine.id}/snapshot`, { name: "before-upgrade" });
    expect(snap.status).toBe(303);
    expect(await text(adm.get(`/ui/sandboxes/${mine.id}/fragments/snapshots`))).toContain("before-upgrade");
  });

  it("destroy from the page: the record says destroyed", async () => {
    const sb = await fx.broker.create({ profile: "profile.local", project: "p1" });
    const r = await adm.post(`/ui/sandboxes/${sb.id}/destroy`);
    expect(r.status).toBe(303);
    expect((await fx.broker.get(sb.id)).state).toBe("destroyed");
    const page = await text(adm.get(`/ui/sandboxes/${sb.id}?done=destroyed`));
    expect(page).toContain('data-state="destroyed"');
    expect(page).toContain("Destroyed.");
    // Destroy is idempotent, as in the API: a second one leaves the record as it is.
    const destroyedAt = (await fx.broker.get(sb.id)).destroyedAt;
    expect((await adm.post(`/ui/sandboxes/${sb.id}/destroy`)).status).toBe(303);
    expect(await fx.broker.get(sb.id)).toMatchObject({ state: "destroyed", destroyedAt });
  });
});

describe("the live stream", () => {
  it("table view: a new sandbox's rows arrive as it is created, ending ready", async () => {
    const res = await adm.get("/ui/stream?view=table");
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const created = fx.broker.create({ profile: "profile.local", project: "p1" });
    const sb = await created;
    const text = await readSse(res, (t) =>
      sseMessages<{ id: string; html: string }>(t, "row").some((m) => m.id === sb.id && m.html.includes('data-state="ready"')),
    );
    const rows = sseMessages<{ id: string; html: string; match: boolean }>(text, "row").filter((m) => m.id === sb.id);
    expect(rows.at(-1)?.html).toContain('data-state="ready"');
    expect(rows.at(-1)?.match).toBe(true);
    await fx.broker.destroy(sb.id);
  });

  it("sandbox view: timeline entries and change notices; resumable with Last-Event-ID", async () => {
    const res = await adm.get(`/ui/stream?view=sandbox&sandbox=${mine.id}&after=0`);
    const text = await readSse(res, (t) => t.includes("event: sandbox"));
    expect(sseMessages<{ html: string }>(text, "event").some((m) => m.html.includes("sandbox.ready"))).toBe(true);
    const lastId = Number([...text.matchAll(/^id: (\d+)$/gm)].at(-1)?.[1]);
    const resumed = await readSse(await adm.get(`/ui/stream?view=sandbox&sandbox=${mine.id}`, { "Last-Event-ID": String(lastId) }), () => false, 300);
    expect(sseMessages(resumed, "event")).toHaveLength(0);
    expect((await adm.get("/ui/stream?view=nope")).status).toBe(400);
    expect((await adm.get("/ui/stream?view=table&after=x")).status).toBe(400);
  });
});

describe("no token in any HTML", () => {
  it("never: not the adm token, not a tenant's", () => {
    expect(w.served.length).toBeGreaterThan(MIN_SERVED);
    for (const body of w.served) {
      for (const token of Object.values(fx.tokens)) {
        expect(body).not.toContain(token);
        expect(body).not.toContain(token.slice(-43));
      }
    }
  });
});
