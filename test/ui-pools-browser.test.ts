/**
 * The pools page in real headless Chromium against a real `serve` on
 * loopback with its reaper keeping pools filled: an operator sets a pool
 * from the page and watches it fill without a reload, drains it through the
 * confirmation page with the keyboard; a forged post without the CSRF value
 * and a tenant session (with its own valid CSRF value) change nothing.
 * Writes docs/ui/pools.png and docs/ui/pools-drain-confirm.png.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "../src/api/server.js";
import type { Broker } from "../src/broker.js";
import { type Reaper, startReaper } from "../src/reaper.js";
import type { Clock } from "../src/types.js";
import { type Browser, launchBrowser, signIn } from "./helpers/browser.js";
import { makeHome, type TestHome } from "./helpers/home.js";

// `make screenshots` writes them into docs/ui/; plain test runs into a temp dir, leaving the work tree clean.
const SHOTS = process.env.SANDBOXER_WRITE_SCREENSHOTS ? join(import.meta.dirname, "..", "docs", "ui") : join(tmpdir(), "sandboxer-ui-shots");
let home: TestHome;
let broker: Broker;
let reaper: Reaper;
let server: RunningServer;
let browser: Browser;
let offsetMs = 0;
const clock: Clock = { now: () => new Date(Date.now() + offsetMs) };
const tokens = { adm: "", p1: "" };

const profile = (id: string, ext: string, pool: string) =>
  `id: ${id}\nversion: 1\nextension: ${ext}\nplacement: { hosts: [localhost] }\nttl: { default: 1h, max: 4h }\ntimeout: 60s\n${pool}`;

async function shot(page: Page, name: string): Promise<void> {
  await page.evaluate(() => document.fonts.ready);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

const pool = async (key: string) => (await broker.pools()).find((p) => p.key === key);

async function until(what: string, ok: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  home = makeHome({ SANDBOXER_SAAS_STUB_DELAY_MS: "300" });
  const dir = join(home.dir, "profiles");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "profile.metered-pool.yaml"), profile("profile.metered-pool", "ext.saas-stub", "pool: { size: 2, maxIdle: 2h }\n"));
  writeFileSync(join(dir, "profile.local-pool.yaml"), profile("profile.local-pool", "ext.local", ""));
  home.env.SANDBOXER_PROFILES_DIR = dir;
  broker = home.broker({ clock });
  tokens.adm = (await broker.createToken({ actor: "adm" })).token;
  tokens.p1 = (await broker.createToken({ actor: "agt", project: "p1" })).token;
  await broker.addCredits({ account: "_pool", amount: 20 });
  await broker.addCredits({ account: "p1", amount: 20 });
  reaper = startReaper(broker, { intervalMs: 1000, poolIntervalMs: 200, reconcile: false });
  server = await startServer(broker, { port: 0, eventPollMs: 50, accessLog: () => {}, background: [reaper] });
  // The metered pool fills; members idle half an hour (on the broker's clock); one is claimed: its idle time is the pool account's.
  await until("the metered pool to fill", async () => (await pool("profile.metered-pool"))?.ready === 2);
  offsetMs += 30 * 60_000;
  const sb = await broker.create({ profile: "profile.metered-pool", actor: "agt", project: "p1" });
  expect(sb.route?.pool?.served).toBe(true);
  await broker.destroy(sb.id);
  browser = await launchBrowser();
  mkdirSync(SHOTS, { recursive: true });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await home?.cleanup();
});

describe("pools page in Chromium", () => {
  let page: Page;
  const problems: string[] = [];

  it("an operator sets a pool from the page and watches it fill without a reload", async () => {
    page = await browser.page();
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
    await signIn(page, server.url, tokens.adm);
    await page.click("nav >> text=Pools");
    await page.waitForURL(`${server.url}/ui/pools`);
    await page.selectOption("select[name=profile]", "profile.local-pool");
    await page.click("button:text('Continue…')");
    await page.waitForURL(/\/ui\/pools\/edit\?profile=profile.local-pool/);
    await page.fill("input[name=size]", "2");
    await page.fill("input[name=maxIdle]", "15m");
    await page.press("input[name=maxIdle]", "Enter");
    await page.waitForURL(`${server.url}/ui/pools?done=set`);
    await page.locator(".notice.ok", { hasText: "Pool size set" }).waitFor();
    await page.waitForFunction(() => document.body.classList.contains("live"));
    await page.evaluate(() => {
      (window as unknown as { marker: number }).marker = 7;
    });
    // The reaper refills one member at a time; the page follows the members' events.
    const idle = page.locator('tr[data-pool="profile.local-pool"] [data-col="idle"]');
    await expect.poll(async () => (await idle.textContent()) ?? "", { timeout: 60_000, interval: 50 }).toBe("2");
    expect(await page.evaluate(() => (window as unknown as { marker: number }).marker)).toBe(7);
    expect(await pool("profile.local-pool")).toMatchObject({ size: 2, ready: 2, maxIdleSeconds: 900 });
    // The metered pool's idle time, as the ledger has it.
    const debits = (await broker.creditHistory({ account: "_pool" })).filter((e) => e.kind === "debit" && e.data.pool === "profile.metered-pool");
    expect(debits.length).toBeGreaterThan(0);
    expect(Number(await page.locator('tr[data-pool="profile.metered-pool"] [data-col="idle-spent"]').textContent())).toBeCloseTo(
      debits.reduce((s, e) => s + e.amount, 0),
      3,
    );
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    await shot(page, "pools");
  }, 120_000);

  it("a forged post without the CSRF value changes nothing", async () => {
    const before = await pool("profile.local-pool");
    const set = await page.request.post(`${server.url}/ui/pools/set`, { form: { pool: "profile.local-pool", size: "0", maxIdle: "1m" } });
    expect(set.status()).toBe(403);
    const drain = await page.request.post(`${server.url}/ui/pools/drain`, { form: { pool: "profile.local-pool" } });
    expect(drain.status()).toBe(403);
    expect(await pool("profile.local-pool")).toMatchObject({ size: before?.size, ready: before?.ready, maxIdleSeconds: 900 });
  }, 30_000);

  it("drains it through the confirmation page, with the keyboard", async () => {
    await page.focus('tr[data-pool="profile.local-pool"] a.btn.danger');
    await page.keyboard.press("Enter");
    await page.waitForURL(/\/ui\/pools\/drain\?pool=profile.local-pool/);
    await shot(page, "pools-drain-confirm");
    expect((await pool("profile.local-pool"))?.ready).toBe(2);
    // The confirm button has focus.
    await page.keyboard.press("Enter");
    // The drain destroys what it finds; the reaper may take one beyond the new size 0 first, so the count is not fixed.
    await page.locator(".notice.ok", { hasText: "Pool drained." }).waitFor({ timeout: 30_000 });
    expect(await pool("profile.local-pool")).toMatchObject({ size: 0, source: "drained" });
    await until(
      "no member of the drained pool left",
      async () => (await pool("profile.local-pool"))?.ready === 0 && (await pool("profile.local-pool"))?.warming === 0,
    );
    expect((await pool("profile.metered-pool"))?.size).toBe(2);
    await page.close();
    expect(problems).toEqual([]);
  }, 60_000);
});

describe("a tenant session (agt of p1) in Chromium", () => {
  it("has no pools page and its forged posts, with its own CSRF value, change nothing", async () => {
    const ctx = await browser.context.browser()?.newContext();
    const page = ctx ? await ctx.newPage() : await browser.page();
    try {
      await signIn(page, server.url, tokens.p1);
      expect(await page.locator("nav >> text=Pools").count()).toBe(0);
      const res = await page.goto(`${server.url}/ui/pools`);
      expect(res?.status()).toBe(404);
      expect(await page.content()).not.toContain("profile.metered-pool");
      await page.goto(`${server.url}/ui/sandboxes`);
      const csrf = await page.locator("input[name=_csrf]").first().inputValue();
      const before = await pool("profile.metered-pool");
      for (const [path, form] of [
        ["/ui/pools/set", { pool: "profile.metered-pool", size: "0", maxIdle: "1m" }],
        ["/ui/pools/set", { profile: "profile.local-pool", size: "5", maxIdle: "1m" }],
        ["/ui/pools/drain", { pool: "profile.metered-pool" }],
      ] as const) {
        const r = await page.request.post(`${server.url}${path}`, { form: { _csrf: csrf, ...form } });
        expect(r.status(), path).toBe(404);
      }
      expect(await pool("profile.metered-pool")).toMatchObject({ size: before?.size, maxIdleSeconds: before?.maxIdleSeconds });
      expect((await pool("profile.local-pool"))?.size).toBe(0);
    } finally {
      await page.close();
      await ctx?.close();
    }
  }, 60_000);
});
