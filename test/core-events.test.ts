import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { backoffSeconds, deliverPending } from "../src/events/publisher.js";
import type { Sandbox, SandboxEvent } from "../src/types.js";
import { runCli, spawnCli } from "./helpers/cli.js";
import { makeHome, type TestHome } from "./helpers/home.js";
import { openStore } from "./helpers/store.js";

interface Received {
  key: string | undefined;
  body: SandboxEvent;
}

/** A real HTTP State Hub on loopback that records what it gets and can be told to fail. */
function startHub(port = 0): Promise<{ server: Server; url: string; got: Received[]; status: { code: number } }> {
  const got: Received[] = [];
  const status = { code: 201 };
  const server = createServer((req: IncomingMessage, res) => {
    let body = "";
    req.on("data", (d) => {
      body += d;
    });
    req.on("end", () => {
      if (status.code < 300) got.push({ key: req.headers["idempotency-key"] as string | undefined, body: JSON.parse(body) });
      res.writeHead(status.code).end();
    });
  });
  return new Promise((resolve) =>
    server.listen(port, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`, got, status })),
  );
}

/** A loopback port with nothing listening (the hub is down). */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

let home: TestHome;
const servers: Server[] = [];
const stores: ReturnType<typeof openStore>[] = [];
beforeAll(() => {
  home = makeHome();
});
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  for (const s of stores.splice(0)) await s.close();
});
afterAll(async () => {
  await home.cleanup();
});

describe("State Hub delivery", () => {
  it("a create delivers its events with the event id as Idempotency-Key", async () => {
    const hub = await startHub();
    servers.push(hub.server);
    const env = { ...home.env, SANDBOXER_STATE_HUB_URL: hub.url };
    const sb = (await runCli(["create", "--profile", "profile.local", "--json"], env)).json<Sandbox>();
    const mine = hub.got.filter((g) => g.body.sandboxId === sb.id);
    expect(mine.map((g) => g.body.type)).toEqual(["sandbox.requested", "sandbox.provisioning", "sandbox.progress", "sandbox.ready"]);
    for (const g of mine) expect(g.key).toBe(g.body.id);
    expect(mine[0]?.body).toMatchObject({ sandboxId: sb.id, actor: "adm", at: expect.any(String), data: expect.any(Object) });
    await runCli(["destroy", sb.id], env);
    expect(
      hub.got
        .filter((g) => g.body.sandboxId === sb.id)
        .map((g) => g.body.type)
        .slice(-2),
    ).toEqual(["sandbox.destroying", "sandbox.destroyed"]);
  });

  it("a down hub never fails a create; events wait and go out on flush, in order, none lost", async () => {
    const port = await deadPort();
    const env = { ...home.env, SANDBOXER_STATE_HUB_URL: `http://127.0.0.1:${port}/events` };
    const created = await runCli(["create", "--profile", "profile.local", "--json"], env);
    expect(created.code).toBe(0);
    const sb = created.json<Sandbox>();
    const destroyed = await runCli(["destroy", sb.id, "--json"], env);
    expect(destroyed.code).toBe(0);
    // The hub is down: flush says what could not be delivered, and why, with exit 1.
    const pending = await runCli(["events", "flush", "--json", "--budget", "1"], env);
    expect(pending.code).toBe(1);
    expect(pending.json<{ pending: number; why: string }>()).toMatchObject({ pending: expect.any(Number), why: expect.stringContaining("hub unreachable") });
    expect(pending.json<{ pending: number }>().pending).toBeGreaterThan(0);
    const human = await runCli(["events", "flush", "--budget", "1"], env);
    expect(human.code).toBe(1);
    expect(human.stderr).toMatch(/event\(s\) not delivered: hub unreachable/);

    // The hub is back: flush delivers everything now, although backoff put the next attempts in the future.
    const hub = await startHub(port);
    servers.push(hub.server);
    const b = openStore(home.env);
    stores.push(b);
    const flushed = await runCli(["events", "flush", "--json"], env);
    expect(flushed.code, flushed.stderr).toBe(0);
    expect(flushed.json<{ pending: number; failed: number }>()).toMatchObject({ pending: 0, failed: 0 });
    // Nothing left: flushing again is a quiet success.
    const again = await runCli(["events", "flush"], env);
    expect([again.code, again.stdout.trim()]).toEqual([0, "delivered 0, pending 0"]);
    const all = await b.events.list({ sandboxId: sb.id });
    const seen = new Set(hub.got.map((g) => g.body.id));
    for (const e of all) expect(seen.has(e.id), `${e.type} of ${e.sandboxId} not delivered`).toBe(true);
    const mine = hub.got.filter((g) => g.body.sandboxId === sb.id).map((g) => g.body.type);
    expect(mine).toEqual(["sandbox.requested", "sandbox.provisioning", "sandbox.progress", "sandbox.ready", "sandbox.destroying", "sandbox.destroyed"]);
  });

  it("a failing hub is retried with exponential backoff and the error kept", async () => {
    const hub = await startHub();
    servers.push(hub.server);
    hub.status.code = 503;
    // No hub configured for this create: its events stay pending in the outbox.
    const sb = (await runCli(["create", "--profile", "profile.local", "--json"], home.env)).json<Sandbox>();
    const b = openStore(home.env);
    stores.push(b);
    const now = new Date();
    const first = await deliverPending({ outbox: b.events, url: hub.url, clock: { now: () => now }, budgetMs: 2000 });
    expect(first.failed).toBe(1);
    expect(first.lastError).toContain("503");
    // Not due again until the backoff passes.
    const again = await deliverPending({ outbox: b.events, url: hub.url, clock: { now: () => now }, budgetMs: 2000 });
    expect(again.failed).toBe(0);
    expect(again.delivered).toBe(0);
    hub.status.code = 200;
    const later = new Date(now.getTime() + 3600_000);
    const last = await deliverPending({ outbox: b.events, url: hub.url, clock: { now: () => later }, budgetMs: 10_000 });
    expect(last.pending).toBe(0);
    expect(hub.got.filter((g) => g.body.sandboxId === sb.id).map((g) => g.body.type)).toContain("sandbox.ready");
    await runCli(["destroy", sb.id], home.env);
    expect([0, 1, 2, 3].map((n) => backoffSeconds(n))).toEqual([1, 2, 4, 8]);
    expect(backoffSeconds(30)).toBe(300);
  });
});

describe("events --follow", () => {
  it("streams new events as JSON lines while a create runs", async () => {
    const follower = spawnCli(["events", "--follow", "--json"], home.env);
    const lines: SandboxEvent[] = [];
    let buf = "";
    follower.stdout?.on("data", (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split("\n");
      buf = parts.pop() ?? "";
      for (const p of parts) if (p.trim()) lines.push(JSON.parse(p));
    });
    await new Promise((r) => setTimeout(r, 500));
    const sb = (await runCli(["create", "--profile", "profile.local", "--json"], home.env)).json<Sandbox>();
    for (let i = 0; i < 50 && !lines.some((e) => e.sandboxId === sb.id && e.type === "sandbox.ready"); i++) await new Promise((r) => setTimeout(r, 100));
    follower.kill("SIGTERM");
    await new Promise((r) => follower.on("close", r));
    expect(lines.filter((e) => e.sandboxId === sb.id).map((e) => e.type)).toEqual([
      "sandbox.requested",
      "sandbox.provisioning",
      "sandbox.progress",
      "sandbox.ready",
    ]);
    await runCli(["destroy", sb.id], home.env);
  });
});
