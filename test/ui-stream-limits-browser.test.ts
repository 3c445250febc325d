/**
 * A dashboard page whose live stream is refused by the session limit, in
 * real headless Chromium against a real server on loopback (eventStreams:
 * one per token): the page still renders and works, says it is not live,
 * and the browser asks for the stream once, never again (EventSource does
 * not retry a non-200 answer, and app.js does not reopen it). Once the
 * token's other stream is closed, a reload is live again; a second tab of
 * the same session is then the one refused, and the first stays live.
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Browser, launchBrowser, signIn } from "./helpers/browser.js";
import { type LimitsEnv, limitsEnv } from "./helpers/session-limits.js";
import { apiStream, type Held } from "./helpers/ui-streams.js";

let env: LimitsEnv;
let browser: Browser;
const held: Held[] = [];

beforeAll(async () => {
  env = await limitsEnv({ eventStreams: { perToken: 1, perProject: 8 } });
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  for (const h of held) h.close();
  await browser?.close();
  await env?.close();
});

/** Every answer to a /ui/stream request this page made, by status. */
function streamAnswers(page: Page): number[] {
  const seen: number[] = [];
  page.on("response", (r) => {
    if (new URL(r.url()).pathname === "/ui/stream") seen.push(r.status());
  });
  return seen;
}

const liveState = (page: Page) =>
  page
    .waitForFunction(() => (document.body.classList.contains("live") ? "live" : document.body.classList.contains("live-off") ? "off" : null))
    .then((h) => h.jsonValue());

describe("a page over the stream limit", { timeout: 120_000 }, () => {
  it("renders without live updates, asks once and never again; live again once a slot is free", async () => {
    // The token's one stream is held by an API client.
    const api = await apiStream(env.server.url, env.tokens.p1a);
    held.push(api);
    expect(api.status).toBe(200);

    const page = await browser.page();
    const answers = streamAnswers(page);
    await signIn(page, env.server.url, env.tokens.p1a);
    await page.locator(`#row-${env.sb.p1.id}`).waitFor();
    expect(await liveState(page)).toBe("off");
    expect(await page.locator(".live-off-ind").isVisible()).toBe(true);
    expect(await page.locator(".live-ind").isVisible()).toBe(false);
    expect(answers).toEqual([429]);
    // Longer than Chromium's reconnection delay (3 s): a retrying EventSource would have asked again by now.
    await page.waitForTimeout(4000);
    expect(answers).toEqual([429]);

    // The page still works: the sandbox page renders from a link, with the same refusal.
    await page.click(`a[href="/ui/sandboxes/${env.sb.p1.id}"]`);
    await page.waitForURL(`${env.server.url}/ui/sandboxes/${env.sb.p1.id}`);
    expect(await page.locator("h1").textContent()).toContain(env.sb.p1.id);
    expect(await liveState(page)).toBe("off");
    expect(answers).toEqual([429, 429]);

    // The API client hangs up: a reload follows the stream again.
    api.close();
    const end = Date.now() + 30_000;
    let state: string | null = "off";
    while (state !== "live" && Date.now() < end) {
      await page.reload();
      state = await liveState(page);
    }
    expect(state).toBe("live");
    expect(answers.at(-1)).toBe(200);

    // A second tab of the same session is over the limit now; the first stays live.
    const second = await browser.page();
    const secondAnswers = streamAnswers(second);
    await second.goto(`${env.server.url}/ui/events`);
    expect(await liveState(second)).toBe("off");
    expect(secondAnswers).toEqual([429]);
    expect(await page.evaluate(() => document.body.classList.contains("live"))).toBe(true);
    await second.close();
    await page.close();
  });
});
