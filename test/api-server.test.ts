/**
 * The API on a real socket (127.0.0.1, a free port) with real bubblewrap
 * sandboxes: the typed client over every route, 20 concurrent idempotent
 * creates, SSE resume after a disconnect.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "../src/api/server.js";
import type { Broker } from "../src/broker.js";
import { SandboxerClient, type SandboxEvent } from "../src/client/index.js";
import { sseMessages } from "../src/client/sse.js";
import { SandboxerError } from "../src/errors.js";
import { makeHome, type TestHome } from "./helpers/home.js";

let home: TestHome;
let broker: Broker;
let server: RunningServer;
let adm: SandboxerClient;
let p1: SandboxerClient;
let p2: SandboxerClient;

beforeAll(async () => {
  home = makeHome();
  broker = home.broker();
  server = await startServer(broker, { port: 0, rateLimit: 0, accessLog: () => {}, eventPollMs: 50 });
  const mint = async (actor: string, project?: string) => (await broker.createToken({ actor, project })).token;
  adm = new SandboxerClient({ url: server.url, token: await mint("adm") });
  p1 = new SandboxerClient({ url: server.url, token: await mint("agt", "p1") });
  p2 = new SandboxerClient({ url: server.url, token: await mint("atm", "p2") });
});

afterAll(async () => {
  await server?.close();
  await home?.cleanup();
});

const latestSeq = async () => (await broker.events({ afterSeq: 0, limit: 1_000_000 })).at(-1)?.seq ?? 0;

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (err) {
    return err instanceof SandboxerError ? err.code : String(err);
  }
}

describe("typed client over a real server", () => {
  it("listens on loopback and answers health and the document", async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await adm.health()).ok).toBe(true);
    expect((await adm.openapi()).openapi).toBe("3.1.0");
  });

  it("every sandbox route, with tenancy", async () => {
    const sb = await p1.createSandbox({ profile: "profile.local" });
    expect(sb).toMatchObject({ state: "ready", project: "p1", actor: "agt" });
    expect((await p1.getSandbox(sb.id)).id).toBe(sb.id);
    expect(await codeOf(p2.getSandbox(sb.id))).toBe("SBX_NOT_FOUND");
    expect(await codeOf(p2.destroySandbox(sb.id))).toBe("SBX_NOT_FOUND");
    expect((await p1.listSandboxes()).items.map((x) => x.id)).toContain(sb.id);
    expect((await p2.listAllSandboxes()).map((x) => x.id)).not.toContain(sb.id);
    expect(await p1.exec(sb.id, ["sh", "-c", "echo ok; exit 3"])).toMatchObject({ exitCode: 3, stdout: "ok\n" });
    const longer = await p1.extendTtl(sb.id, "30m");
    expect(Date.parse(longer.expiresAt ?? "")).toBeGreaterThan(Date.parse(sb.expiresAt ?? ""));
    const snap = await p1.createSnapshot(sb.id, { name: "s1" });
    expect((await p1.listSnapshots()).map((s) => s.id)).toContain(snap.id);
    expect((await p1.getSnapshot(snap.id)).sandboxId).toBe(sb.id);
    expect(await codeOf(p2.getSnapshot(snap.id))).toBe("SBX_NOT_FOUND");
    const restored = await p1.restoreSnapshot(snap.id);
    expect(restored).toMatchObject({ state: "ready", project: "p1" });
    expect((await p1.deleteSnapshot(snap.id)).id).toBe(snap.id);
    const again = await p1.recreateSandbox(sb.id);
    expect(again.state).toBe("ready");
    for (const id of [again.id, restored.id]) expect((await p1.destroySandbox(id)).state).toBe("destroyed");
    expect((await adm.expire()).applied).toBe(false);
    expect(await codeOf(p1.expire())).toBe("SBX_FORBIDDEN");
    expect((await p1.credits()).accounts[0]?.account).toBe("p1");
    expect((await p1.hosts()).map((h) => h.name)).toContain("localhost");
    expect((await p1.profiles()).profiles.length).toBeGreaterThan(0);
    expect((await p1.extensions()).length).toBeGreaterThan(0);
    expect((await adm.reconcile()).errors).toEqual([]);
    const events = await p1.events({ sandbox: sb.id });
    expect(events.items.map((e) => e.type)).toEqual(
      expect.arrayContaining(["sandbox.requested", "sandbox.provisioning", "sandbox.ready", "sandbox.destroyed"]),
    );
  });

  it("no token and a wrong token are refused", async () => {
    expect(await codeOf(new SandboxerClient({ url: server.url }).listSandboxes())).toBe("SBX_UNAUTHORIZED");
    expect(await codeOf(new SandboxerClient({ url: server.url, token: "sbx_tok-aaaaaaaaaaaa_x" }).listSandboxes())).toBe("SBX_UNAUTHORIZED");
  });

  it("an unreachable server is SBX_HOST_UNREACHABLE", async () => {
    expect(await codeOf(new SandboxerClient({ url: "http://127.0.0.1:9", token: "x" }).health())).toBe("SBX_HOST_UNREACHABLE");
  });
});

describe("idempotent create under concurrency", () => {
  it("20 concurrent identical requests -> one sandbox, provisioned once", async () => {
    const body = { profile: "profile.local", ttl: "20m" };
    const results = await Promise.all(Array.from({ length: 20 }, () => p1.createSandbox(body, { idempotencyKey: "burst-1" })));
    const ids = new Set(results.map((r) => r.id));
    expect(ids.size).toBe(1);
    const [id] = [...ids] as [string];
    // Every answer is the settled record, not a half-provisioned one.
    expect(new Set(results.map((r) => r.state))).toEqual(new Set(["ready"]));
    const withKey = (await broker.list({ project: "p1" })).filter((s) => s.ttlSeconds === 1200);
    expect(withKey.map((s) => s.id)).toEqual([id]);
    const provisioned = (await broker.events({ sandboxId: id, limit: 1000 })).filter((e) => e.type === "sandbox.provisioning");
    expect(provisioned).toHaveLength(1);
    // A different body under the same key is refused.
    expect(await codeOf(p1.createSandbox({ profile: "profile.local", ttl: "25m" }, { idempotencyKey: "burst-1" }))).toBe("SBX_IDEMPOTENCY_CONFLICT");
    await p1.destroySandbox(id);
  });
});

describe("SSE event stream", () => {
  /** Read messages from one SSE connection until `until` says stop; then drop the connection. */
  async function readUntil(
    after: { lastEventId?: string; after?: number },
    until: (e: SandboxEvent) => boolean,
    onOpen?: () => Promise<void>,
  ): Promise<SandboxEvent[]> {
    const controller = new AbortController();
    const { url, headers } = adm.prepare("/v1/events", { query: after.after !== undefined ? { after: after.after } : {} });
    headers.Accept = "text/event-stream";
    if (after.lastEventId) headers["Last-Event-ID"] = after.lastEventId;
    const res = await fetch(url, { headers, signal: controller.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const got: SandboxEvent[] = [];
    const opened = onOpen?.();
    try {
      for await (const m of sseMessages(res.body as ReadableStream<Uint8Array>)) {
        const e = JSON.parse(m.data) as SandboxEvent;
        expect(m.id).toBe(String(e.seq));
        expect(m.event).toBe(e.type);
        got.push(e);
        if (until(e)) break;
      }
    } finally {
      controller.abort();
      await opened;
    }
    return got;
  }

  it("resuming with Last-Event-ID after a disconnect loses and repeats no event", async () => {
    const startSeq = await latestSeq();
    let first = "";
    // Connection 1: sees a create through to ready, then drops.
    const part1 = await readUntil(
      { after: startSeq },
      (e) => e.type === "sandbox.ready" && e.sandboxId === first,
      async () => {
        first = (await p1.createSandbox({ profile: "profile.local" }, { wait: false })).id;
      },
    );
    // While nobody listens: a destroy and another create.
    await p1.destroySandbox(first);
    const second = await p2.createSandbox({ profile: "profile.local" });
    const last = part1.at(-1) as SandboxEvent;
    // Connection 2 resumes from the last id it saw.
    const part2 = await readUntil({ lastEventId: String(last.seq) }, (e) => e.type === "sandbox.ready" && e.sandboxId === second.id);
    const received = [...part1, ...part2].map((e) => e.seq);
    const stored = (await broker.events({ afterSeq: startSeq, limit: 100_000 })).map((e) => e.seq).filter((s) => s <= (part2.at(-1)?.seq ?? 0));
    expect(received).toEqual(stored);
    expect(new Set(received).size).toBe(received.length);
    await p2.destroySandbox(second.id);
  });

  it("the client's streamEvents follows one sandbox and filters by project", async () => {
    const controller = new AbortController();
    const seen: SandboxEvent[] = [];
    const sb = await p2.createSandbox({ profile: "profile.local" });
    const after = await latestSeq();
    const reading = (async () => {
      for await (const e of p1.streamEvents({ after: 0, signal: controller.signal })) {
        seen.push(e);
        if (e.type === "sandbox.destroyed" && e.seq > after) break;
      }
    })();
    const own = await p1.createSandbox({ profile: "profile.local" });
    await p1.destroySandbox(own.id);
    await reading;
    controller.abort();
    expect(seen.some((e) => e.sandboxId === own.id && e.type === "sandbox.destroyed")).toBe(true);
    expect(seen.every((e) => e.project === "p1")).toBe(true);
    expect(seen.some((e) => e.sandboxId === sb.id)).toBe(false);
    expect(await codeOf(p1.events({ sandbox: sb.id }))).toBe("SBX_NOT_FOUND");
    await p2.destroySandbox(sb.id);
  });
});

describe("shutdown", () => {
  it("cancels a create still running in the background and cleans it up", async () => {
    const own = await startServer(broker, { port: 0, rateLimit: 0, accessLog: () => {} });
    const { token } = await broker.createToken({ actor: "adm" });
    const client = new SandboxerClient({ url: own.url, token });
    const early = await client.createSandbox({ profile: "profile.local" }, { wait: false });
    expect(early.state).toBe("provisioning");
    await own.close();
    const after = await broker.get(early.id);
    // Either it finished before the close reached it, or it was cancelled and torn down.
    expect(["ready", "failed"]).toContain(after.state);
    if (after.state === "failed") expect(after.destroyedAt).not.toBeNull();
    else await broker.destroy(after.id);
  });
});
