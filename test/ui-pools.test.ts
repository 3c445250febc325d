/**
 * The dashboard's pools page in process (`app.request()`): the table (target,
 * members, idle, refilling, claimed, max idle, idle credits per pool from the
 * pool account's ledger), set size and drain through their pages and CSRF'd
 * posts, the live stream (view=pools) following a refill, and the attacks: a
 * tenant session (pages, fragments, stream and posts with its own valid CSRF
 * value are 404, nothing changes), an operator post without or with a wrong
 * CSRF value or from another origin (403, nothing changes), a made-up pool key.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../src/api/app.js";
import type { Broker } from "../src/broker.js";
import type { Clock } from "../src/types.js";
import { money } from "../src/ui/format.js";
import type { ApiFixture } from "./helpers/api.js";
import { makeHome, type TestHome } from "./helpers/home.js";
import { readSse, sseMessages, type UiSession, uiLogin } from "./helpers/ui.js";

let home: TestHome;
let broker: Broker;
let created: ReturnType<typeof createApp>;
let adm: UiSession;
let p1: UiSession;
let offsetMs = 0;
const clock: Clock = { now: () => new Date(Date.now() + offsetMs) };

const profile = (id: string, ext: string, pool: string) =>
  `id: ${id}\nversion: 1\nextension: ${ext}\nplacement: { hosts: [localhost] }\nttl: { default: 1h, max: 4h }\ntimeout: 60s\n${pool}`;

/** The pools of the broker by key, for before/after comparisons. */
const poolsNow = async () =>
  Object.fromEntries((await broker.pools()).map((p) => [p.key, { size: p.size, ready: p.ready, maxIdleSeconds: p.maxIdleSeconds, source: p.source }]));

beforeAll(async () => {
  home = makeHome();
  const dir = join(home.dir, "profiles");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "profile.metered-pool.yaml"), profile("profile.metered-pool", "ext.saas-stub", "pool: { size: 1, maxIdle: 2h }\n"));
  writeFileSync(join(dir, "profile.local-pool.yaml"), profile("profile.local-pool", "ext.local", ""));
  home.env.SANDBOXER_PROFILES_DIR = dir;
  broker = home.broker({ clock });
  created = createApp(broker, { accessLog: () => {}, eventPollMs: 20 });
  const mint = async (actor: string, project?: string) => (await broker.createToken({ actor, project })).token;
  const fx = { app: created.app } as unknown as ApiFixture;
  adm = await uiLogin(fx, await mint("adm"));
  p1 = await uiLogin(fx, await mint("agt", "p1"));
  await broker.addCredits({ account: "_pool", amount: 10 });
  await broker.addCredits({ account: "p1", amount: 10 });
}, 60_000);

afterAll(async () => {
  await created?.shutdown();
  await home?.cleanup();
});

describe("pools page (adm)", () => {
  it("lists each pool with its counts, max idle and the credits its idle members used", async () => {
    expect((await broker.refillPools()).pools.find((p) => p.key === "profile.metered-pool")?.created).toHaveLength(1);
    offsetMs += 30 * 60_000; // half an hour idle at 1 credit/h: 0.5 credits of the pool account
    const sb = await broker.create({ profile: "profile.metered-pool", actor: "agt", project: "p1" });
    expect(sb.route?.pool?.served).toBe(true);
    const debit = (await broker.creditHistory({ account: "_pool" })).find((e) => e.kind === "debit");
    expect(debit?.data).toMatchObject({ idle: true, pool: "profile.metered-pool" });
    await broker.destroy(sb.id);

    const r = await adm.get("/ui/pools");
    expect(r.status).toBe(200);
    const page = await r.text();
    const row = /<tr id="pool-profile.metered-pool"[\s\S]*?<\/tr>/.exec(page)?.[0] ?? "";
    expect(row).toContain('data-col="target">1<');
    expect(row).toContain('data-col="claimed">1<');
    // The page's figure is the ledger's idle debit for this pool (about half a credit).
    expect(debit?.amount).toBeCloseTo(0.5, 2);
    expect(row).toContain(`data-col="idle-spent">${money(debit?.amount ?? -1)}<`);
    expect(row).toContain("2h");
    expect(page).toContain('href="/ui/pools"');
    expect(page).toContain('data-stream="/ui/stream?view=pools&amp;after=');
    // The pool account card: what is held for the member the claim left behind (refilled on the next pass).
    expect(page).toMatch(/pool account \(_pool\)/);
  });

  it("sets a size through the edit page and a CSRF'd post; the stream shows the refill", async () => {
    const edit = await adm.get("/ui/pools/edit?profile=profile.local-pool");
    expect(edit.status).toBe(200);
    const form = await edit.text();
    expect(form).toContain('name="_csrf"');
    expect(form).toContain('name="profile" value="profile.local-pool"');
    const stream = adm.get("/ui/stream?view=pools&after=0");
    const set = await adm.post("/ui/pools/set", { profile: "profile.local-pool", size: "2", maxIdle: "15m" });
    expect(set.status).toBe(303);
    expect(set.headers.get("location")).toBe("/ui/pools?done=set");
    expect(await poolsNow()).toMatchObject({ "profile.local-pool": { size: 2, maxIdleSeconds: 900, source: "set" } });
    const filled = broker.refillPools({ perPool: 2 });
    const text = await readSse(
      await stream,
      (t) => sseMessages<{ html: string }>(t, "pools").some((m) => /pool-profile.local-pool"[\s\S]*?data-col="idle">2</.test(m.html)),
      30_000,
    );
    await filled;
    const msgs = sseMessages<{ html: string }>(text, "pools");
    expect(msgs.at(-1)?.html).toMatch(/pool-profile.local-pool"[\s\S]*?data-col="idle">2</);
    expect(msgs.at(-1)?.html.startsWith('<div id="pools-live">')).toBe(true);
    expect(await (await adm.get("/ui/pools?done=set")).text()).toContain("Pool size set");
  }, 60_000);

  it("bad input is shown on the edit page, escaped, and changes nothing", async () => {
    const before = await poolsNow();
    for (const [form, field] of [
      [{ pool: "profile.local-pool", size: "lots", maxIdle: "15m" }, "size"],
      [{ pool: "profile.local-pool", size: "3", maxIdle: "<b>soon</b>" }, "maxIdle"],
      [{ pool: "profile.local-pool", size: "5000", maxIdle: "15m" }, "size"],
    ] as const) {
      const r = await adm.post("/ui/pools/set", form);
      expect(r.status, JSON.stringify(form)).toBe(400);
      const body = await r.text();
      expect(body).toContain(`set size: ${field}`);
      expect(body).not.toContain("<b>soon</b>");
    }
    expect(await poolsNow()).toEqual(before);
  });

  it("a made-up pool key or profile is a 404 and changes nothing", async () => {
    const before = await poolsNow();
    for (const path of ["/ui/pools/edit?pool=profile.nope", "/ui/pools/drain?pool=%3Cscript%3E", "/ui/pools/edit?profile=profile.nope"]) {
      const r = await adm.get(path);
      expect(r.status, path).toBe(404);
      expect(await r.text()).not.toContain("<script>");
    }
    expect((await adm.post("/ui/pools/set", { pool: "profile.local-pool?repo=%2Fetc", size: "1", maxIdle: "1m" })).status).toBe(404);
    expect((await adm.post("/ui/pools/drain", { pool: "profile.nope" })).status).toBe(404);
    expect(await poolsNow()).toEqual(before);
  });

  it("posts without the CSRF value, with a wrong one, or from another site are refused and change nothing", async () => {
    const before = await poolsNow();
    const forged = [
      adm.post("/ui/pools/set", { pool: "profile.local-pool", size: "0", maxIdle: "1m" }, { csrf: null }),
      adm.post("/ui/pools/set", { pool: "profile.local-pool", size: "0", maxIdle: "1m" }, { csrf: "x".repeat(43) }),
      adm.post("/ui/pools/drain", { pool: "profile.local-pool" }, { csrf: null }),
      adm.post("/ui/pools/drain", { pool: "profile.local-pool" }, { headers: { Origin: "https://evil.example" } }),
      adm.post("/ui/pools/drain", { pool: "profile.local-pool" }, { headers: { "Sec-Fetch-Site": "cross-site" } }),
    ];
    for (const r of await Promise.all(forged)) expect(r.status).toBe(403);
    expect(await poolsNow()).toEqual(before);
  });

  it("drains through the confirmation page: size 0, its warm members destroyed", async () => {
    const confirm = await adm.get("/ui/pools/drain?pool=profile.local-pool");
    expect(confirm.status).toBe(200);
    expect(await confirm.text()).toContain('name="pool" value="profile.local-pool"');
    // The confirmation page itself changed nothing.
    expect((await poolsNow())["profile.local-pool"]?.ready).toBe(2);
    const r = await adm.post("/ui/pools/drain", { pool: "profile.local-pool" });
    expect(r.status).toBe(303);
    expect(r.headers.get("location")).toBe("/ui/pools?done=drained&destroyed=2");
    expect(await poolsNow()).toMatchObject({ "profile.local-pool": { size: 0, ready: 0, source: "drained" } });
    // Only this pool: the metered one is untouched.
    expect((await poolsNow())["profile.metered-pool"]?.size).toBe(1);
    expect(await (await adm.get("/ui/pools?done=drained&destroyed=2")).text()).toContain("Pool drained. 2 warm member(s) destroyed.");
  }, 60_000);
});

describe("pools page (tenant session of p1)", () => {
  it("is not there: pages, forms, the stream and the nav entry", async () => {
    for (const path of [
      "/ui/pools",
      "/ui/pools/edit?pool=profile.metered-pool",
      "/ui/pools/edit?profile=profile.local-pool",
      "/ui/pools/drain?pool=profile.metered-pool",
      "/ui/stream?view=pools",
    ]) {
      const r = await p1.get(path);
      expect(r.status, path).toBe(404);
      expect(await r.text()).not.toContain("profile.metered-pool");
    }
    expect(await (await p1.get("/ui/sandboxes")).text()).not.toContain('href="/ui/pools"');
  });

  it("posts with its own valid CSRF value are 404 and change nothing", async () => {
    const before = await poolsNow();
    expect((await p1.post("/ui/pools/set", { pool: "profile.metered-pool", size: "9", maxIdle: "1m" })).status).toBe(404);
    expect((await p1.post("/ui/pools/set", { profile: "profile.local-pool", size: "9", maxIdle: "1m" })).status).toBe(404);
    expect((await p1.post("/ui/pools/drain", { pool: "profile.metered-pool" })).status).toBe(404);
    expect(await poolsNow()).toEqual(before);
  });
});
