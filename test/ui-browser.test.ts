/**
 * The dashboard in real headless Chromium (Debian's `chromium`, driven by
 * playwright-core) against a real `serve` on loopback: the CLI creates and
 * the table follows without a reload, destroy and extend-TTL from the page,
 * a real Packer build's progress moving, keyboard-only and no-JS use, a
 * tenant who sees nothing of other projects, and a screenshot of every page
 * under docs/ui/.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "../src/api/server.js";
import type { Broker } from "../src/broker.js";
import type { Sandbox } from "../src/types.js";
import { type Browser, launchBrowser, signIn } from "./helpers/browser.js";
import { runCli } from "./helpers/cli.js";
import { makeHome, type TestHome } from "./helpers/home.js";

// `make screenshots` writes them into docs/ui/; plain test runs into a temp dir, leaving the work tree clean.
const SHOTS = process.env.SANDBOXER_WRITE_SCREENSHOTS ? join(import.meta.dirname, "..", "docs", "ui") : join(tmpdir(), "sandboxer-ui-shots");
let home: TestHome;
let broker: Broker;
let server: RunningServer;
let browser: Browser;
let work: string;
let tokens: { adm: string; p1: string };
let other: Sandbox;

/** A full-page screenshot under docs/ui/, from the top; focus is dropped unless the page is about to be typed into. */
async function shot(page: Page, name: string, opts: { keepFocus?: boolean } = {}): Promise<void> {
  await page.evaluate(() => document.fonts.ready);
  if (!opts.keepFocus) await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** Spend on several past days (a broker on a moved clock), so the credits chart has something to show. */
async function pastSpend(): Promise<void> {
  let now = Date.now() - 12 * 86_400_000;
  const past = home.broker({ clock: { now: () => new Date(now) } });
  for (const [daysAgo, hours] of [
    [12, 3],
    [10, 6],
    [9, 2],
    [7, 9],
    [5, 4],
    [4, 7],
    [2, 5],
    [1, 8],
  ] as const) {
    now = Date.now() - daysAgo * 86_400_000;
    const sb = await past.create({ profile: "profile.saas-stub", project: "p1", ttl: "12h" });
    now += hours * 3600_000;
    await past.destroy(sb.id);
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "sbx-ui-browser-"));
  home = makeHome({ SANDBOXER_SAAS_STUB_DELAY_MS: "1500" });
  writeFileSync(home.env.SANDBOXER_CONFIG as string, "hosts:\n  sandboxer01: { ssh: { host: 127.0.0.1, port: 1, user: sbx }, labels: [preferred] }\n");
  broker = home.broker();
  const mint = async (...args: string[]) => (await runCli(["tokens", "create", ...args, "--json"], home.env)).json<{ token: string }>().token;
  tokens = { adm: await mint("--actor", "adm"), p1: await mint("--actor", "agt", "--project", "p1") };
  expect((await runCli(["credits", "add", "100"], home.env)).code).toBe(0);
  expect((await runCli(["credits", "add", "400", "--project", "p1"], home.env)).code).toBe(0);
  await pastSpend();
  await broker.create({ profile: "profile.sandbox-canary" });
  other = await broker.create({ profile: "profile.local", project: "p2", actor: "agt" });
  await broker.snapshot(other.id, { name: "nightly" });
  server = await startServer(broker, { port: 0, eventPollMs: 50, accessLog: () => {} });
  browser = await launchBrowser();
  mkdirSync(SHOTS, { recursive: true });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await home?.cleanup();
  rmSync(work, { recursive: true, force: true });
});

describe("operator (adm) in Chromium", () => {
  let page: Page;
  let created = "";
  /** Console errors and failed requests: a CSP violation or a missing asset would show here. */
  const problems: string[] = [];

  it("signs in with the keyboard only", async () => {
    page = await browser.page();
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
    page.on("requestfailed", (r) => {
      // A stream closed by navigation is not a failure.
      if (!r.url().includes("/ui/stream")) problems.push(`requestfailed: ${r.url()}`);
    });
    await page.goto(`${server.url}/ui/sandboxes`);
    expect(page.url()).toBe(`${server.url}/ui/login`);
    await shot(page, "login", { keepFocus: true });
    // The token field has focus; type and press Enter.
    await page.keyboard.type(tokens.adm);
    await page.keyboard.press("Enter");
    await page.waitForURL(`${server.url}/ui/sandboxes`);
    expect(await page.content()).not.toContain(tokens.adm);
    // Tab reaches the skip link first; it jumps to the main content.
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Skip to content");
  }, 60_000);

  it("a sandbox created from the CLI appears and turns ready without a reload", async () => {
    await page.waitForFunction(() => document.body.classList.contains("live"));
    await page.evaluate(() => {
      (window as unknown as { marker: number }).marker = 42;
    });
    const run = runCli(["create", "--profile", "profile.saas-stub", "--json"], home.env);
    const row = page.locator('tbody[data-rows] tr:has([data-state="provisioning"]), tbody[data-rows] tr:has([data-state="requested"])');
    await row.first().waitFor({ timeout: 30_000 });
    const id = await row.first().getAttribute("id");
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    created = r.json<Sandbox>().id;
    expect(id).toBe(`row-${created}`);
    await page.locator(`#row-${created} [data-state="ready"]`).waitFor({ timeout: 30_000 });
    expect(await page.evaluate(() => (window as unknown as { marker: number }).marker)).toBe(42);
    expect(Number(await page.locator("[data-count]").textContent())).toBe(await page.locator('tbody[data-rows] tr[id^="row-"]').count());
    await shot(page, "sandboxes");
  }, 60_000);

  it("filters apply in place (htmx) and the URL follows", async () => {
    await page.selectOption("select[name=state]", "all");
    await page.waitForURL(/state=all/);
    await page.locator('tbody[data-rows] [data-state="destroyed"]').first().waitFor();
    expect(await page.evaluate(() => (window as unknown as { marker: number }).marker)).toBe(42);
    await page.goto(`${server.url}/ui/sandboxes`);
  }, 60_000);

  it("extends a TTL from the sandbox page", async () => {
    await page.click(`#row-${created} a`);
    await page.waitForURL(`${server.url}/ui/sandboxes/${created}`);
    const before = Date.parse((await broker.get(created)).expiresAt ?? "");
    await page.fill("input[name=duration]", "2h");
    await page.click("button:text('Extend')");
    await page.locator(".notice.ok", { hasText: "TTL extended." }).waitFor();
    expect(Date.parse((await broker.get(created)).expiresAt ?? "")).toBeGreaterThan(before);
    await shot(page, "sandbox");
  }, 60_000);

  it("destroys it from the page after a confirmation, with the keyboard", async () => {
    await page.goto(`${server.url}/ui/sandboxes/${created}`);
    await page.focus("a.btn.danger");
    await page.keyboard.press("Enter");
    await page.waitForURL(`${server.url}/ui/sandboxes/${created}/destroy`);
    await shot(page, "destroy-confirm", { keepFocus: true });
    expect((await broker.get(created)).state).toBe("ready");
    // The confirm button has focus.
    await page.keyboard.press("Enter");
    await page.locator('.head [data-state="destroyed"]').waitFor({ timeout: 30_000 });
    expect(await page.locator("#record").textContent()).toContain("reason: user");
    expect((await broker.get(created)).state).toBe("destroyed");
  }, 60_000);

  it("watches a Packer build's progress move", async () => {
    const dir = join(work, "steps");
    mkdirSync(dir);
    writeFileSync(
      join(dir, "build.pkr.hcl"),
      'source "null" "basic" {\n  communicator = "none"\n}\nbuild {\n  sources = ["source.null.basic"]\n  provisioner "shell-local" {\n    inline = ["echo step-one", "sleep 2", "echo step-two", "sleep 2", "echo step-three", "sleep 1"]\n  }\n}\n',
    );
    const run = runCli(["create", "--profile", "profile.vm-packer-build", "--input", `packer_template=${dir}`, "--json"], home.env, { timeoutMs: 120_000 });
    let id = "";
    const end = Date.now() + 30_000;
    while (!id && Date.now() < end) {
      id = (await broker.list({ profile: "profile.vm-packer-build" }))[0]?.id ?? "";
      if (!id) await new Promise((r) => setTimeout(r, 50));
    }
    expect(id).not.toBe("");
    await page.goto(`${server.url}/ui/sandboxes/${id}`);
    const last = page.locator("[data-progress-last]");
    const seen: string[] = [];
    for (const step of ["step-one", "step-two", "step-three"]) {
      await expect.poll(async () => (await last.textContent()) ?? "", { timeout: 60_000, interval: 50 }).toContain(step);
      seen.push(step);
    }
    expect(seen).toEqual(["step-one", "step-two", "step-three"]);
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    await page.locator('.head [data-state="ready"]').waitFor({ timeout: 30_000 });
    await expect.poll(async () => (await page.locator("pre.log").textContent()) ?? "").toContain("step-three");
    await shot(page, "packer-build");
    await page.setViewportSize({ width: 390, height: 844 });
    await shot(page, "packer-build-narrow");
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.setViewportSize({ width: 1280, height: 800 });
  }, 120_000);

  it("every other page, light and dark, wide and narrow", async () => {
    for (const [path, name] of [
      ["/ui/hosts", "hosts"],
      ["/ui/hosts/stale", "hosts-stale"],
      ["/ui/credits", "credits"],
      ["/ui/snapshots", "snapshots"],
      ["/ui/catalog", "catalog"],
      ["/ui/events", "events"],
    ] as const) {
      const res = await page.goto(`${server.url}${path}`);
      expect(res?.status(), path).toBe(200);
      await shot(page, name);
    }
    await page.goto(`${server.url}/ui/sandboxes?state=all`);
    await page.click("button[data-theme-toggle]");
    await page.reload();
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe("dark");
    await shot(page, "sandboxes-dark");
    await page.setViewportSize({ width: 390, height: 844 });
    await shot(page, "sandboxes-narrow");
    // Nothing wider than the window but the table's own scroller.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.close();
    // No CSP violation, script error, or missing asset on any page visited above.
    expect(problems).toEqual([]);
  }, 90_000);

  it("read-only pages are readable without JavaScript", async () => {
    const ctx = await browser.context.browser()?.newContext({ javaScriptEnabled: false });
    const noJs = ctx ? await ctx.newPage() : await browser.page();
    try {
      if (ctx) await signIn(noJs, server.url, tokens.adm);
      await noJs.goto(`${server.url}/ui/sandboxes?state=all`);
      expect(await noJs.locator("tbody[data-rows] tr").count()).toBeGreaterThan(3);
      await noJs.goto(`${server.url}/ui/sandboxes/${created}`);
      expect(await noJs.locator("#record").textContent()).toContain("destroyed");
    } finally {
      await noJs.close();
      await ctx?.close();
    }
  }, 60_000);
});

describe("tenant (agt of p1) in Chromium", () => {
  it("never sees other projects' sandboxes; their pages are 404; actions are refused", async () => {
    const ctx = await browser.context.browser()?.newContext();
    const page = ctx ? await ctx.newPage() : await browser.page();
    try {
      await signIn(page, server.url, tokens.p1);
      await page.goto(`${server.url}/ui/sandboxes?state=all`);
      await page.waitForFunction(() => document.body.classList.contains("live"));
      // A new sandbox in p2 while the page follows the stream: it must not appear.
      const p2 = await broker.create({ profile: "profile.local", project: "p2" });
      const p1 = await broker.create({ profile: "profile.local", project: "p1" });
      await page.locator(`#row-${p1.id} [data-state="ready"]`).waitFor({ timeout: 30_000 });
      const html = await page.content();
      for (const id of [other.id, p2.id]) expect(html).not.toContain(id);
      await shot(page, "sandboxes-tenant");

      const res = await page.goto(`${server.url}/ui/sandboxes/${other.id}`);
      expect(res?.status()).toBe(404);
      expect(await page.locator("h1").textContent()).toBe("Not found");
      // A forged post with this session's own CSRF value is still refused.
      await page.goto(`${server.url}/ui/sandboxes/${p1.id}`);
      const csrf = await page.locator("input[name=_csrf]").first().inputValue();
      const destroy = await page.request.post(`${server.url}/ui/sandboxes/${other.id}/destroy`, { form: { _csrf: csrf } });
      expect(destroy.status()).toBe(404);
      const ttl = await page.request.post(`${server.url}/ui/sandboxes/${other.id}/ttl`, { form: { _csrf: csrf, duration: "1h" } });
      expect(ttl.status()).toBe(404);
      expect((await broker.get(other.id)).state).toBe("ready");
      const snaps = await page.goto(`${server.url}/ui/snapshots`);
      expect(snaps?.status()).toBe(200);
      expect(await page.content()).not.toContain("nightly");
      await broker.destroy(p2.id);
      await broker.destroy(p1.id);
    } finally {
      await page.close();
      await ctx?.close();
    }
  }, 90_000);
});
