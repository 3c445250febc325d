/**
 * Warm pools on ext.local (issue 14), in process and through the API on a
 * real socket: refill, claim (stamped, pooled events), per-request repo
 * copy, an empty pool falling back to a cold create, idle expiry, a profile
 * version change, drain, credits of a metered pool (ext.saas-stub), and
 * tenant invisibility through the API, the SSE stream and MCP.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "../src/api/server.js";
import type { Broker } from "../src/broker.js";
import type { Clock, Sandbox, SandboxEvent } from "../src/types.js";
import { makeHome, type TestHome } from "./helpers/home.js";
import { callOk, connectHttp } from "./helpers/mcp.js";

let home: TestHome;
let broker: Broker;
/** The broker after the profile's version changed (a broker reads the catalog once). */
let b2: Broker;
let server: RunningServer;
let offsetMs = 0;
const clock: Clock = { now: () => new Date(Date.now() + offsetMs) };
const tokens = { adm: "", p1: "", p2: "" };
let repo: string;
let profilesDir: string;

function writeProfile(name: string, body: string): void {
  writeFileSync(join(profilesDir, `${name}.yaml`), body);
}

const pooled = (version: number, size = 2) => `id: profile.pooled
version: ${version}
extension: ext.local
placement: { hosts: [localhost] }
ttl: { default: 1h, max: 4h }
timeout: 60s
inputs:
  repo: { type: path }
pool: { size: ${size}, maxIdle: 10m }
`;

beforeAll(async () => {
  home = makeHome();
  profilesDir = join(home.dir, "profiles");
  repo = join(home.dir, "repos", "app");
  mkdirSync(profilesDir, { recursive: true });
  mkdirSync(repo, { recursive: true });
  writeFileSync(join(repo, "hello.txt"), "from the consumer's repo\n");
  writeProfile("profile.pooled", pooled(1));
  writeProfile(
    "profile.metered-pool",
    "id: profile.metered-pool\nversion: 1\nextension: ext.saas-stub\nplacement: { hosts: [localhost] }\nttl: { default: 1h, max: 4h }\npool: { size: 1, maxIdle: 1h }\n",
  );
  writeFileSync(home.env.SANDBOXER_CONFIG as string, `projects:\n  p1: { roots: [${join(home.dir, "repos")}] }\n`);
  home.env.SANDBOXER_PROFILES_DIR = profilesDir;
  broker = home.broker({ clock });
  tokens.adm = (await broker.createToken({ actor: "adm" })).token;
  tokens.p1 = (await broker.createToken({ actor: "agt", project: "p1" })).token;
  tokens.p2 = (await broker.createToken({ actor: "agt", project: "p2" })).token;
  server = await startServer(broker, { port: 0, rateLimit: 0, accessLog: () => {}, eventPollMs: 20 });
}, 60_000);

afterAll(async () => {
  await server?.close();
  await home?.cleanup();
});

async function call<T>(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

/** Every id a tenant's SSE stream names, read until `until` appears in it (or 5 s). */
async function sseIds(token: string, until: string): Promise<string> {
  const ctl = new AbortController();
  const res = await fetch(`${server.url}/v1/events`, { headers: { Authorization: `Bearer ${token}`, Accept: "text/event-stream" }, signal: ctl.signal });
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  let text = "";
  const deadline = Date.now() + 5000;
  try {
    while (!text.includes(until) && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
  } finally {
    ctl.abort();
  }
  return text;
}

const membersOf = async (key: string) => (await (b2 ?? broker).pools()).find((p) => p.key === key);
/** Every record, members included, straight from a store of the test's own (members are hidden from the broker's list). */
async function allRows() {
  const { openStore } = await import("./helpers/store.js");
  const s = openStore(home.env);
  try {
    return await s.sandboxes.list({ pool: "all" });
  } finally {
    await s.close();
  }
}

describe("warm pools on ext.local", () => {
  let claimed: Sandbox;

  it("a profile's pool is listed; a refill pass fills it; members are invisible to list, get and events", async () => {
    expect(await membersOf("profile.pooled")).toMatchObject({ size: 2, ready: 0, source: "profile", maxIdleSeconds: 600 });
    const r = await broker.refillPools({ perPool: 2 });
    expect(r.pools.find((p) => p.key === "profile.pooled")?.created).toHaveLength(2);
    expect(await membersOf("profile.pooled")).toMatchObject({ ready: 2, warming: 0 });
    const members = (await allRows()).filter((x) => x.pool === "profile.pooled");
    expect(members.map((m) => [m.state, m.poolStage])).toEqual([
      ["ready", "warm"],
      ["ready", "warm"],
    ]);
    expect(await broker.list({ all: true } as never)).toEqual([]);
    for (const m of members) {
      await expect(broker.get(m.id)).rejects.toMatchObject({ code: "SBX_NOT_FOUND" });
      expect(await broker.events({ sandboxId: m.id })).toEqual([]);
    }
  }, 60_000);

  it("a tenant's create claims a warm member: stamped with its actor, project, TTL and key; pooled events; the route says so", async () => {
    const res = await fetch(`${server.url}/v1/sandboxes`, {
      method: "POST",
      headers: { Authorization: `Bearer ${tokens.p1}`, "Content-Type": "application/json", "Idempotency-Key": "claim-1" },
      body: JSON.stringify({ profile: "profile.pooled", ttl: "30m" }),
    });
    expect(res.status).toBe(201);
    claimed = (await res.json()) as Sandbox;
    expect(claimed).toMatchObject({ state: "ready", actor: "agt", project: "p1", ttlSeconds: 1800, profile: "profile.pooled" });
    expect(Date.parse(claimed.expiresAt as string) - clock.now().getTime()).toBeGreaterThan(1790_000);
    expect(claimed.route).toMatchObject({ pool: { key: "profile.pooled", served: true } });
    const events = (await call<{ items: SandboxEvent[] }>("GET", `/v1/events?sandbox=${claimed.id}&format=json`, tokens.p1)).body.items;
    expect(events.map((e) => [e.type, e.data.pooled, e.project])).toEqual([
      ["sandbox.requested", true, "p1"],
      ["sandbox.ready", true, "p1"],
    ]);
    // The same key and body again: the same sandbox, nothing claimed twice.
    const again = await fetch(`${server.url}/v1/sandboxes`, {
      method: "POST",
      headers: { Authorization: `Bearer ${tokens.p1}`, "Content-Type": "application/json", "Idempotency-Key": "claim-1" },
      body: JSON.stringify({ profile: "profile.pooled", ttl: "30m" }),
    });
    expect(((await again.json()) as Sandbox).id).toBe(claimed.id);
    expect(await membersOf("profile.pooled")).toMatchObject({ ready: 1, claimed: 1, misses: 0, hitRate: 1 });
    // It is an ordinary sandbox now: exec works.
    const r = await call<{ exitCode: number; stdout: string }>("POST", `/v1/sandboxes/${claimed.id}/exec`, tokens.p1, { command: ["hostname"] });
    expect(r.body).toMatchObject({ exitCode: 0, stdout: `${claimed.id}\n` });
  }, 60_000);

  it("tenants never see the other member: API list and get, counts, the SSE stream, MCP list_sandboxes", async () => {
    const member = (await allRows()).find((x) => x.pool === "profile.pooled" && x.poolStage === "warm" && x.state === "ready");
    expect(member).toBeTruthy();
    const id = member?.id as string;
    for (const token of [tokens.p1, tokens.p2, tokens.adm]) {
      const list = await call<{ items: Sandbox[] }>("GET", "/v1/sandboxes?all=true", token);
      expect(list.body.items.map((s) => s.id)).not.toContain(id);
      expect((await call("GET", `/v1/sandboxes/${id}`, token)).status).toBe(404);
      expect((await call("DELETE", `/v1/sandboxes/${id}`, token)).status).toBe(404);
      expect((await call("POST", `/v1/sandboxes/${id}/exec`, token, { command: ["true"] })).status).toBe(404);
      const events = await call<{ items: SandboxEvent[] }>("GET", "/v1/events?format=json&limit=1000", token);
      expect(events.body.items.map((e) => e.sandboxId)).not.toContain(id);
      expect((await call("GET", `/v1/events?sandbox=${id}&format=json`, token)).status).toBe(404);
    }
    expect((await call<{ items: Sandbox[] }>("GET", "/v1/sandboxes", tokens.p1)).body.items.map((s) => s.id)).toEqual([claimed.id]);
    // The SSE stream from the start: the claimed sandbox's events, never a member's (nor its refill history).
    const sse = await sseIds(tokens.adm, `"sandboxId":"${claimed.id}","at"`);
    expect(sse).toContain(claimed.id);
    expect(sse).not.toContain(id);
    const mcp: Client = await connectHttp(server.url, tokens.p1);
    try {
      const out = await callOk<{ sandboxes: Sandbox[] }>(mcp, "list_sandboxes", { all: true });
      expect(out.sandboxes.map((s) => s.id)).toEqual([claimed.id]);
    } finally {
      await mcp.close();
    }
    const adm = await connectHttp(server.url, tokens.adm);
    try {
      const out = await callOk<{ sandboxes: Sandbox[] }>(adm, "list_sandboxes", { all: true });
      expect(out.sandboxes.map((s) => s.id)).not.toContain(id);
    } finally {
      await adm.close();
    }
  }, 60_000);

  it("pool routes are for operators: a tenant is refused (403), an operator lists, sets and is told what is wrong", async () => {
    expect((await call("GET", "/v1/pools", tokens.p1)).status).toBe(403);
    expect((await call("POST", "/v1/pools", tokens.p1, { profile: "profile.pooled", size: 9 })).status).toBe(403);
    expect((await call("POST", "/v1/pools/drain", tokens.p1, { profile: "profile.pooled" })).status).toBe(403);
    expect((await membersOf("profile.pooled"))?.size).toBe(2);
    const list = await call<{ pools: { key: string; ready: number }[] }>("GET", "/v1/pools", tokens.adm);
    expect(list.body.pools.find((p) => p.key === "profile.pooled")).toMatchObject({ ready: 1 });
    const bad = [
      [{ profile: "profile.nope", size: 1 }, 400, "SBX_PROFILE_NOT_FOUND"],
      [{ profile: "profile.pooled", size: -1 }, 400, "SBX_USAGE"],
      [{ profile: "profile.pooled", size: 1, inputs: { repo: "/etc" } }, 400, "SBX_INPUT_INVALID"],
      [{ profile: "profile.pooled", size: 1, inputs: { nope: "x" } }, 400, "SBX_INPUT_UNKNOWN"],
      [{ profile: "profile.pooled", size: 1, maxIdle: "soon" }, 400, "SBX_USAGE"],
    ] as const;
    for (const [body, status, code] of bad) {
      const r = await call<{ error: { code: string } }>("POST", "/v1/pools", tokens.adm, body);
      expect([r.status, r.body.error.code]).toEqual([status, code]);
    }
    expect((await membersOf("profile.pooled"))?.size).toBe(2);
  });

  it("a tenant's per-request input is confined before any member is touched: a path outside its roots is refused, the pool is unchanged", async () => {
    const before = await membersOf("profile.pooled");
    for (const repoPath of ["/etc", join(home.dir, "repos", "..", "profiles")]) {
      const r = await call<{ error: { code: string } }>("POST", "/v1/sandboxes", tokens.p1, { profile: "profile.pooled", inputs: { repo: repoPath } });
      expect(r.status, JSON.stringify(r.body)).toBeGreaterThanOrEqual(400);
    }
    expect(await membersOf("profile.pooled")).toMatchObject({ ready: before?.ready, claimed: before?.claimed, misses: before?.misses });
    expect((await call<{ items: Sandbox[] }>("GET", "/v1/sandboxes", tokens.p1)).body.items.map((s) => s.id)).toEqual([claimed.id]);
  });

  it("per-request work: the consumer's repo is copied into the claimed member's workspace", async () => {
    const sb = await broker.create({ profile: "profile.pooled", inputs: { repo }, actor: "agt", project: "p1", caller: { actor: "agt", project: "p1" } });
    expect(sb.route?.pool).toMatchObject({ served: true });
    expect(sb.inputs.repo).toBe(repo);
    const out = await broker.exec(sb.id, ["cat", "/workspace/hello.txt"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    expect(out).toMatchObject({ exitCode: 0, stdout: "from the consumer's repo\n" });
    await broker.destroy(sb.id);
  }, 60_000);

  it("an empty pool is a miss: the create is cold, never an error, and the route says why", async () => {
    expect(await membersOf("profile.pooled")).toMatchObject({ ready: 0 });
    const sb = await broker.create({ profile: "profile.pooled" });
    expect(sb.state).toBe("ready");
    expect(sb.route?.pool).toMatchObject({ key: "profile.pooled", served: false, why: expect.stringContaining("created cold") });
    expect(await membersOf("profile.pooled")).toMatchObject({ misses: 1, claimed: 2 });
    await broker.destroy(sb.id);
  }, 60_000);

  it("refill replaces members; idle past maxIdle and an older profile version are destroyed and replaced; refill lag is measured", async () => {
    await broker.refillPools({ perPool: 2 });
    const before = (await allRows()).filter((x) => x.pool === "profile.pooled" && x.poolStage === "warm" && x.state === "ready").map((x) => x.id);
    expect(before).toHaveLength(2);
    expect((await membersOf("profile.pooled"))?.refillLagMs?.samples).toBeGreaterThan(0);
    offsetMs += 11 * 60_000;
    expect(await membersOf("profile.pooled")).toMatchObject({ ready: 0 });
    const idle = await broker.refillPools({ perPool: 2 });
    const entry = idle.pools.find((p) => p.key === "profile.pooled");
    expect(entry?.destroyed.map((d) => d.id).sort()).toEqual([...before].sort());
    expect(entry?.destroyed[0]?.why).toMatch(/idle past maxIdle/);
    expect(entry?.created).toHaveLength(2);
    // A new version of the profile: a new broker reads the catalog again.
    writeProfile("profile.pooled", pooled(2));
    b2 = home.broker({ clock });
    const old = (await allRows()).filter((x) => x.pool === "profile.pooled" && x.poolStage === "warm" && x.state === "ready").map((x) => x.id);
    expect(await b2.pools()).toContainEqual(expect.objectContaining({ key: "profile.pooled", ready: 0 }));
    const bumped = await b2.refillPools({ perPool: 2 });
    const e2 = bumped.pools.find((p) => p.key === "profile.pooled");
    expect(e2?.destroyed.map((d) => d.why)).toEqual([expect.stringContaining("version"), expect.stringContaining("version")]);
    expect(e2?.destroyed.map((d) => d.id).sort()).toEqual(old.sort());
    const now = (await allRows()).filter((x) => x.pool === "profile.pooled" && x.poolStage === "warm" && x.state === "ready");
    expect(now.map((x) => x.profileVersion)).toEqual([2, 2]);
    const sb = await b2.create({ profile: "profile.pooled" });
    expect(sb).toMatchObject({ profileVersion: 2, route: { pool: { served: true } } });
    await b2.destroy(sb.id);
    // Destroyed members never return to a pool.
    const destroyed = (await allRows()).filter((x) => x.pool === "profile.pooled" && x.state === "destroyed");
    expect(destroyed.length).toBeGreaterThanOrEqual(4);
    expect(destroyed.every((x) => x.poolStage === "warm")).toBe(true);
  }, 120_000);

  it("pools set overrides the profile's size; drain destroys warm members and keeps the pool at 0", async () => {
    await b2.refillPools({ perPool: 2 });
    expect(await membersOf("profile.pooled")).toMatchObject({ ready: 2 });
    const set = await b2.setPool({ profile: "profile.pooled", size: 1 });
    expect(set).toMatchObject({ key: "profile.pooled", size: 1, source: "set" });
    const r = await b2.refillPools({ perPool: 2 });
    expect(r.pools.find((p) => p.key === "profile.pooled")).toMatchObject({
      destroyed: [{ id: expect.any(String), why: expect.stringContaining("beyond") }],
      created: [],
    });
    const d = await b2.drainPool("profile.pooled");
    expect(d).toMatchObject({ pools: ["profile.pooled"], destroyed: [expect.stringMatching(/^sbx-/)], errors: [] });
    expect(await membersOf("profile.pooled")).toMatchObject({ size: 0, ready: 0, source: "drained" });
    expect((await b2.refillPools()).pools.find((p) => p.key === "profile.pooled")?.created).toEqual([]);
    const live = (await allRows()).filter((x) => x.pool === "profile.pooled" && x.state !== "destroyed");
    expect(live).toEqual([]);
    const sb = await b2.create({ profile: "profile.pooled" });
    expect(sb.route?.pool).toBeUndefined();
    await b2.destroy(sb.id);
  }, 60_000);

  it("a metered pool: idle time is the pool account's, the consumer pays from its claim only", async () => {
    await b2.addCredits({ account: "_pool", amount: 10 });
    await b2.addCredits({ account: "p1", amount: 10 });
    const filled = await b2.refillPools();
    expect(
      filled.pools.find((p) => p.key === "profile.metered-pool"),
      JSON.stringify(filled),
    ).toMatchObject({ created: [expect.any(String)], errors: [] });
    expect(await membersOf("profile.metered-pool")).toMatchObject({ ready: 1 });
    const pool0 = (await b2.credits({ account: "_pool" }))[0];
    expect(pool0?.reserved).toBeGreaterThan(1);
    offsetMs += 30 * 60_000; // half an hour idle: 0.5 credits of the pool account
    const sb = await b2.create({ profile: "profile.metered-pool", actor: "agt", project: "p1", ttl: "1h" });
    expect(sb.route?.pool).toMatchObject({ served: true });
    const pool1 = (await b2.credits({ account: "_pool" }))[0];
    expect(pool1?.reserved).toBe(0);
    expect(pool1?.balance).toBeCloseTo(9.5, 2);
    expect((await b2.credits({ account: "p1" }))[0]).toMatchObject({ balance: 10, reserved: 1 });
    offsetMs += 6 * 60_000; // six minutes used by the consumer: 0.1 credits
    const done = await b2.destroy(sb.id);
    expect((done.cost as { settled: number }).settled).toBeCloseTo(0.1, 2);
    expect((await b2.credits({ account: "p1" }))[0]?.balance).toBeCloseTo(9.9, 2);
    // The idle debit is on the pool account's ledger, never the tenant's.
    const p1 = await b2.creditHistory({ account: "p1" });
    expect(p1.filter((e) => e.kind === "debit").map((e) => e.amount)).toEqual([expect.closeTo(0.1, 2)]);
    await b2.drainPool("profile.metered-pool");
  }, 60_000);
});
