/**
 * Dashboard benchmark (issue 12), with 10,000 records in the store.
 *   1. server time for the sandboxes page (first page, 100 rows) vs
 *      GET /v1/sandboxes of the same page, both in process (app.request):
 *      ratio target <= 1.5
 *   2. time from a `ready` transition (the event's commit time) to the row
 *      changing in real headless Chromium following the page's stream,
 *      against a raw GET /v1/events SSE client on the same server: target < 200 ms
 * Prints figures; asserts nothing.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../src/api/app.js";
import { startServer } from "../src/api/server.js";
import { createBroker } from "../src/broker.js";
import { resolvePaths } from "../src/paths.js";
import { SqliteStore } from "../src/store/sqlite.js";
import type { Sandbox, SandboxRow, SandboxState } from "../src/types.js";
import { SeqTracker } from "../src/ui/seq.js";
import { launchBrowser, signIn } from "../test/helpers/browser.js";
import { removeTree } from "../test/helpers/home.js";

const RECORDS = Number(process.env.BENCH_RECORDS ?? 10_000);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 200);
const TRANSITIONS = Number(process.env.BENCH_TRANSITIONS ?? 30);
const root = mkdtempSync(join(tmpdir(), "sbx-uibench-"));
const env = { ...process.env, SANDBOXER_HOME: join(root, "home"), SANDBOXER_CONFIG: join(root, "none.yaml"), SANDBOXER_STATE_HUB_URL: "", SANDBOXER_URL: "" };
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? Number.NaN;
const f = (x: number) => x.toFixed(2);

const B32 = "abcdefghijklmnopqrstuvwxyz234567";
/** `sbx-` + 12 base32 characters, distinct per i (the shape the UI and API accept). */
const benchId = (i: number) => `sbx-bench${Array.from({ length: 7 }, (_, k) => B32[Math.floor(i / 32 ** (6 - k)) % 32]).join("")}`;

/** 10,000 history records written straight into the store (a real create costs ~30 ms each; the page only reads). */
async function seed(): Promise<void> {
  const states: SandboxState[] = ["destroyed", "destroyed", "destroyed", "destroyed", "destroyed", "destroyed", "destroyed", "ready", "ready", "failed"];
  const t0 = Date.now() - RECORDS * 60_000;
  const store = new SqliteStore(resolvePaths(env).db);
  await store.tx(async (t) => {
    for (let i = 0; i < RECORDS; i++) {
      const state = states[i % states.length] as SandboxState;
      const at = new Date(t0 + i * 60_000).toISOString();
      const row: SandboxRow = {
        id: benchId(i),
        profile: i % 3 ? "profile.local" : "profile.saas-stub",
        profileVersion: 1,
        // Not a registered extension or inventory host: these records only fill the history, they hold no capacity.
        extension: i % 3 ? "ext.bench-local" : "ext.bench-metered",
        mode: null,
        host: "bench-host",
        state,
        actor: "agt",
        project: `p${i % 10}`,
        inputs: {},
        createdAt: at,
        readyAt: state === "failed" ? null : at,
        expiresAt: new Date(t0 + i * 60_000 + 3600_000).toISOString(),
        destroyedAt: state === "destroyed" ? at : null,
        reason: state === "destroyed" ? "user" : null,
        reachability: state === "ready" ? { kind: "namespace", exec: "sandboxer exec ID -- CMD..." } : null,
        route: null,
        cost: i % 3 ? null : { pricePerHour: 1, currency: "credits", reserved: 1, settled: state === "destroyed" ? 0.25 : 0 },
        error: state === "failed" ? { code: "SBX_PROVISION_FAILED", message: "bench" } : null,
        hostFacts: null,
        ttlSeconds: 3600,
        updatedAt: at,
        handle: null,
        ownerPid: null,
        ownerStart: null,
      };
      await t.sandboxes.insert(row);
    }
  });
  await store.close();
}

async function login(app: ReturnType<typeof createApp>["app"], token: string): Promise<string> {
  const form = await app.request("/ui/login");
  const loginCookie = (form.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? "";
  const r = await app.request("/ui/login", {
    method: "POST",
    headers: { Cookie: loginCookie, "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ _csrf: csrf, token }).toString(),
  });
  return (
    (r.headers.get("set-cookie") ?? "")
      .split(/,\s*/)
      .find((c) => c.startsWith("sbx_ui="))
      ?.split(";")[0] ?? ""
  );
}

async function pageVsApi(): Promise<Record<string, number>> {
  await seed();
  const broker = createBroker({ env });
  const created = createApp(broker, { accessLog: () => {}, rateLimit: 0 });
  const { token } = await broker.createToken({ actor: "adm" });
  const cookie = await login(created.app, token);
  const time = async (path: string, headers: Record<string, string>) => {
    const t0 = performance.now();
    const r = await created.app.request(path, { headers });
    const body = await r.text();
    if (r.status !== 200) throw new Error(`${path}: ${r.status} ${body.slice(0, 200)}`);
    return performance.now() - t0;
  };
  const cases = [
    ["all states, first 100 of 10,000", "/ui/sandboxes?state=all&limit=100", "/v1/sandboxes?all=true&limit=100"],
    ["live + failed (the default), first 100", "/ui/sandboxes", "/v1/sandboxes?limit=100"],
  ] as const;
  const out: Record<string, number> = {};
  for (const [label, ui, api] of cases) {
    for (let i = 0; i < 20; i++) {
      await time(ui, { Cookie: cookie });
      await time(api, { Authorization: `Bearer ${token}` });
    }
    const u: number[] = [];
    const a: number[] = [];
    // Alternate, so drifting load hits both alike.
    for (let i = 0; i < REQUESTS; i++) {
      u.push(await time(ui, { Cookie: cookie }));
      a.push(await time(api, { Authorization: `Bearer ${token}` }));
    }
    const ratio = pct(u, 0.5) / pct(a, 0.5);
    console.log(
      `${label.padEnd(40)} page ${f(pct(u, 0.5))} ms (p90 ${f(pct(u, 0.9))})  API ${f(pct(a, 0.5))} ms (p90 ${f(pct(a, 0.9))})  ratio ${f(ratio)}x (target <= 1.5)`,
    );
    out[`${label} pageMs`] = pct(u, 0.5);
    out[`${label} apiMs`] = pct(a, 0.5);
    out[`${label} ratio`] = ratio;
  }
  await created.shutdown();
  await broker.close();
  return out;
}

/** In the page: note when each row first shows `ready` (the browser's clock is this machine's clock). */
const OBSERVE = `(() => {
  const seen = {};
  window.seen = seen;
  const note = () => {
    for (const el of document.querySelectorAll('tr[id^="row-"] [data-state="ready"]')) {
      const id = el.closest("tr").id.slice(4);
      if (!(id in seen)) seen[id] = Date.now();
    }
  };
  new MutationObserver(note).observe(document.querySelector("[data-rows]"), { childList: true, subtree: true, attributes: true });
})()`;

async function readyToRow(): Promise<Record<string, number>> {
  const broker = createBroker({ env });
  const server = await startServer(broker, { port: 0, accessLog: () => {}, rateLimit: 0 });
  const created = createApp(broker, { accessLog: () => {} });
  const { token } = await broker.createToken({ actor: "adm" });
  await created.shutdown();
  const browser = await launchBrowser();
  const apiSeen = new Map<string, number>();
  const abort = new AbortController();
  try {
    // The raw floor: a GET /v1/events SSE client in this process.
    const from = await new SeqTracker((o) => broker.events(o)).latest();
    const res = await fetch(`${server.url}/v1/events?after=${from}`, { headers: { Authorization: `Bearer ${token}` }, signal: abort.signal });
    void (async () => {
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      const dec = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += dec.decode(value, { stream: true });
        for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (!block.includes("event: sandbox.ready")) continue;
          const data = JSON.parse(
            block
              .split("\n")
              .find((l) => l.startsWith("data:"))
              ?.slice(5) ?? "{}",
          ) as { sandboxId: string };
          apiSeen.set(data.sandboxId, Date.now());
        }
      }
    })().catch(() => {});

    const page = await browser.page();
    await signIn(page, server.url, token);
    // A project of its own keeps the table on its last page, so new rows are added in place.
    await page.goto(`${server.url}/ui/sandboxes?project=bench-live`);
    await page.waitForFunction(() => document.body.classList.contains("live"));
    // A string, not a function: tsx would wrap a named inner function in a helper the page lacks.
    await page.evaluate(OBSERVE);
    const ui: number[] = [];
    const api: number[] = [];
    const ids: Sandbox[] = [];
    for (let i = 0; i < TRANSITIONS; i++) {
      // Start at a random point of the stream's poll cycle.
      await new Promise((r) => setTimeout(r, Math.random() * 250));
      const sb = await broker.create({ profile: "profile.local", project: "bench-live" });
      ids.push(sb);
      const readyAt = Date.parse((await broker.events({ sandboxId: sb.id })).find((e) => e.type === "sandbox.ready")?.at ?? "");
      await page.waitForFunction((id) => id in (window as unknown as { seen: Record<string, number> }).seen, sb.id, { timeout: 10_000 });
      const seenAt = await page.evaluate((id) => (window as unknown as { seen: Record<string, number> }).seen[id] ?? Number.NaN, sb.id);
      ui.push(seenAt - readyAt);
      const t = apiSeen.get(sb.id);
      if (t !== undefined) api.push(t - readyAt);
    }
    for (const sb of ids) await broker.destroy(sb.id);
    const r = { rowMedianMs: pct(ui, 0.5), rowP90Ms: pct(ui, 0.9), rowMaxMs: Math.max(...ui), apiSseMedianMs: pct(api, 0.5), apiSseP90Ms: pct(api, 0.9) };
    console.log(
      `ready -> row changed in Chromium (${TRANSITIONS} creates)   median ${f(r.rowMedianMs)} ms, p90 ${f(r.rowP90Ms)} ms, max ${f(r.rowMaxMs)} ms (target < 200)`,
    );
    console.log(
      `ready -> event on a raw GET /v1/events client        median ${f(r.apiSseMedianMs)} ms, p90 ${f(r.apiSseP90Ms)} ms (both poll the store every 100 ms)`,
    );
    return r;
  } finally {
    abort.abort();
    await browser.close();
    await server.close();
    await broker.close();
  }
}

async function main(): Promise<void> {
  console.log(`${RECORDS} records in the store`);
  const a = await pageVsApi();
  const b = await readyToRow();
  if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, JSON.stringify({ records: RECORDS, ...a, ...b }, null, 2));
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => removeTree(root));
