import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";

/** Debian's chromium (make apt installs it); playwright's own browser download cannot work here. */
export const CHROMIUM = process.env.SANDBOXER_CHROMIUM ?? "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export interface Browser {
  context: BrowserContext;
  page(): Promise<Page>;
  close(): Promise<void>;
}

/** Real headless Chromium with a fresh user-data dir, removed on close. */
export async function launchBrowser(opts: { width?: number; height?: number; colorScheme?: "light" | "dark" } = {}): Promise<Browser> {
  const dir = mkdtempSync(join(tmpdir(), "sbx-chromium-"));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: opts.width ?? 1280, height: opts.height ?? 800 },
    colorScheme: opts.colorScheme ?? "light",
  });
  return {
    context,
    page: () => context.newPage(),
    async close() {
      await context.close().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Sign in through the login form, as a person would. */
export async function signIn(page: Page, base: string, token: string): Promise<void> {
  await page.goto(`${base}/ui/login`);
  await page.fill("input[name=token]", token);
  await page.press("input[name=token]", "Enter");
  await page.waitForURL(`${base}/ui/sandboxes`);
}
