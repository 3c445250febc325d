/**
 * State Hub's contract (docs/integrations/state-hub.md): every lifecycle event
 * is POSTed as JSON with `Idempotency-Key: <event id>`, at least once, in
 * outbox order (so in order per sandbox); a 2xx or 409 answer is delivered,
 * anything else is retried later with the same key and the same body, and the
 * events behind it wait. Played through the CLI against a real HTTP hub on
 * loopback that keeps events by key, as the page tells a hub to.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HubEvent, SandboxRecord } from "../../src/api/schemas.js";
import type { SandboxEvent } from "../../src/types.js";
import { runCli } from "../helpers/cli.js";
import { makeHome, type TestHome } from "../helpers/home.js";
import { recordExample } from "./examples.js";

interface Attempt {
  key: string;
  contentType: string | undefined;
  raw: string;
  status: number;
}

/**
 * A hub as the page describes one: stores by Idempotency-Key, answers 201,
 * 409 for a key it already has. `failNext(n)` answers 500 to the next n
 * requests; `storeThenFail` stores the next one and still answers 500 (a
 * reply lost after the write), so the sender must repeat it.
 */
function startHub(): Promise<{
  server: Server;
  url: string;
  attempts: Attempt[];
  stored: Map<string, SandboxEvent>;
  order: string[];
  failNext(n: number): void;
  storeThenFail(): void;
}> {
  const attempts: Attempt[] = [];
  const stored = new Map<string, SandboxEvent>();
  const order: string[] = [];
  let fail = 0;
  let lostReply = false;
  const server = createServer((req: IncomingMessage, res) => {
    let raw = "";
    req.on("data", (d) => {
      raw += d;
    });
    req.on("end", () => {
      const key = String(req.headers["idempotency-key"] ?? "");
      let status = 201;
      if (fail > 0) {
        fail--;
        status = 500;
      } else if (stored.has(key)) status = 409;
      else {
        stored.set(key, JSON.parse(raw) as SandboxEvent);
        order.push(key);
        if (lostReply) {
          lostReply = false;
          status = 500;
        }
      }
      attempts.push({ key, contentType: req.headers["content-type"], raw, status });
      res.writeHead(status).end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({
        server,
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/events`,
        attempts,
        stored,
        order,
        failNext: (n) => {
          fail = n;
        },
        storeThenFail: () => {
          lostReply = true;
        },
      }),
    ),
  );
}

let home: TestHome;
let hub: Awaited<ReturnType<typeof startHub>>;
let env: Record<string, string>;

beforeAll(async () => {
  hub = await startHub();
  home = makeHome();
  env = { ...(home.env as Record<string, string>), SANDBOXER_STATE_HUB_URL: hub.url, SANDBOXER_URL: "" };
});
afterAll(async () => {
  await home?.cleanup();
  await new Promise((r) => hub?.server.close(r));
});

/** What an operator runs after the hub comes back: flush until nothing is pending (backoff may hold some a while). */
async function flushUntilEmpty(): Promise<void> {
  for (let i = 0; i < 240; i++) {
    const r = await runCli(["events", "flush", "--json"], env);
    if (r.json<{ pending: number }>().pending === 0) return;
    await new Promise((res) => setTimeout(res, 500));
  }
  throw new Error("events still pending after the hub came back");
}

describe("State Hub: at-least-once delivery with Idempotency-Key, retries, order per sandbox", { timeout: 200_000 }, () => {
  it("a hub answering 500 gets the same event again (same key, same body) and nothing behind it first", async () => {
    hub.failNext(3);
    const a = await runCli(["create", "--profile", "profile.local", "--project", "hub", "--json"], env);
    expect(a.code).toBe(0); // a failing hub never fails a create
    const b = await runCli(["create", "--profile", "profile.local", "--project", "hub", "--json"], env);
    const [sa, sb] = [SandboxRecord.parse(a.json()), SandboxRecord.parse(b.json())];
    // One delivery is stored but its reply is lost: it must come again, and the hub's key makes it one.
    hub.storeThenFail();
    await flushUntilEmpty();
    for (const id of [sa.id, sb.id]) expect((await runCli(["destroy", id], env)).code).toBe(0);
    await flushUntilEmpty();

    const failed = hub.attempts.filter((x) => x.status === 500);
    expect(failed.length).toBe(4);
    for (const f of failed) {
      const again = hub.attempts.filter((x) => x.key === f.key && x !== f && hub.attempts.indexOf(x) > hub.attempts.indexOf(f));
      expect(again.length, `event ${f.key} was not retried`).toBeGreaterThan(0);
      for (const x of again) expect(x.raw).toBe(f.raw);
    }
    // The stored-then-500 event came again and was answered 409: at least once, kept once.
    expect(hub.attempts.filter((x) => x.status === 409).length).toBeGreaterThan(0);

    // Every event the CLI recorded reached the hub once (by key), each sandbox's in seq order.
    const all = (await runCli(["events", "--json", "--limit", "1000"], env)).json<SandboxEvent[]>();
    const mine = all.filter((e) => e.sandboxId === sa.id || e.sandboxId === sb.id);
    expect([...hub.stored.keys()].filter((k) => mine.some((e) => e.id === k)).sort()).toEqual(mine.map((e) => e.id).sort());
    for (const id of [sa.id, sb.id]) {
      const bySeq = mine.filter((e) => e.sandboxId === id).map((e) => e.id);
      expect(hub.order.filter((k) => bySeq.includes(k))).toEqual(bySeq);
    }
    for (const id of [sa.id, sb.id]) {
      const types = hub.order
        .map((k) => hub.stored.get(k) as SandboxEvent)
        .filter((e) => e.sandboxId === id)
        .map((e) => e.type);
      expect(types[0]).toBe("sandbox.requested");
      expect(types.indexOf("sandbox.provisioning")).toBeLessThan(types.indexOf("sandbox.ready"));
      expect(types.slice(-2)).toEqual(["sandbox.destroying", "sandbox.destroyed"]);
    }

    // The body is the event without the local seq; the key is its id.
    for (const x of hub.attempts) {
      const body = HubEvent.strict().parse(JSON.parse(x.raw));
      expect(x.key).toBe(body.id);
      expect(x.contentType).toBe("application/json");
    }
    const ready = hub.attempts.find(
      (x) => x.status === 201 && (JSON.parse(x.raw) as SandboxEvent).type === "sandbox.ready" && (JSON.parse(x.raw) as SandboxEvent).sandboxId === sa.id,
    ) as Attempt;
    recordExample("state-hub-delivery", {
      method: "POST",
      headers: { "content-type": ready.contentType, "idempotency-key": ready.key },
      body: JSON.parse(ready.raw),
    });
    recordExample(
      "state-hub-lifecycle",
      hub.order.map((k) => hub.stored.get(k) as SandboxEvent).filter((e) => e.sandboxId === sa.id),
    );
  });

  it("a hub that is down never fails a create; nothing is lost, and flush reports what is pending", async () => {
    const down = { ...env, SANDBOXER_STATE_HUB_URL: "http://127.0.0.1:9/v1/events" };
    const c = await runCli(["create", "--profile", "profile.local", "--json"], down);
    expect(c.code).toBe(0);
    const id = SandboxRecord.parse(c.json()).id;
    const f = await runCli(["events", "flush", "--json"], down);
    const report = f.json<{ delivered: number; pending: number; lastError: string | null }>();
    expect(report.pending).toBeGreaterThan(0);
    expect(report.delivered).toBe(0);
    // Attempted now (and refused), or still backing off from the create's own attempt.
    if (report.lastError !== null) expect(report.lastError).toMatch(/hub unreachable/);
    await runCli(["destroy", id], down);
    await flushUntilEmpty();
    const types = [...hub.stored.values()].filter((e) => e.sandboxId === id).map((e) => e.type);
    expect(types[0]).toBe("sandbox.requested");
    expect(types.at(-1)).toBe("sandbox.destroyed");
  });
});

describe("the outbox keeps each sandbox's order while one of its events backs off", () => {
  it("claims another sandbox's due events, never a later event of the sandbox that waits", async () => {
    const h = makeHome();
    const { openStore } = await import("../helpers/store.js");
    const store = openStore(h.env);
    try {
      const at = "2026-01-01T00:00:00.000Z";
      const ev = (id: string, sandboxId: string | null) => ({ id, type: "sandbox.progress", sandboxId, at, actor: "adm", project: null, data: {} });
      for (const e of [ev("evt-a1", "sbx-a"), ev("evt-b1", "sbx-b"), ev("evt-a2", "sbx-a"), ev("evt-n1", null), ev("evt-b2", "sbx-b")])
        await store.events.append(e);
      const lease = "2026-01-01T00:00:30.000Z";
      const first = await store.events.claimPending(at, lease, 1);
      expect(first.map((e) => e.id)).toEqual(["evt-a1"]);
      // a1 failed: it backs off until later; b's and the unattached event go on, a2 waits behind a1.
      await store.events.markFailed(first[0]?.seq as number, "hub answered HTTP 500", "2026-01-01T00:00:02.000Z");
      const next = await store.events.claimPending("2026-01-01T00:00:01.000Z", lease, 10);
      expect(next.map((e) => e.id)).toEqual(["evt-b1", "evt-n1", "evt-b2"]);
      const later = await store.events.claimPending("2026-01-01T00:00:02.000Z", lease, 10);
      // Both of a's now, in order (a deliverer stops at the first failure, so a2 never overtakes a1).
      expect(later.map((e) => e.id)).toEqual(["evt-a1", "evt-a2"]);
    } finally {
      await store.close();
      await h.cleanup();
    }
  });
});
