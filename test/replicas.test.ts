/**
 * Several `serve` replicas on one PostgreSQL database (issue 13 §5), each a
 * real process with its own replica id, sharing the work: creates spread over
 * them, one outbox delivered once to a hub, events streamed by any replica,
 * credits and idempotency keys held across them, expiry done once, and a
 * replica killed with -9 in the middle of creates reconciled by another.
 * Backend: the metered stub (its "remote" sandboxes are files under the
 * shared SANDBOXER_HOME), so resources can be counted exactly.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Env } from "../src/config.js";
import { PostgresStore } from "../src/store/postgres.js";
import type { Sandbox } from "../src/types.js";
import { freshDatabase } from "./fixtures/postgres.js";
import { api, follow, type Hub, type Replica, startHub, startReplica, until } from "./fixtures/replicas.js";
import { runCli } from "./helpers/cli.js";

let dir: string;
let env: Env;
let db: { url: string; drop(): Promise<void> };
let store: PostgresStore;
let hub: Hub;
let token: string;
const replicas: Replica[] = [];
const a = () => replicas[0] as Replica;
const b = () => replicas[1] as Replica;
const c = () => replicas[2] as Replica;

/** Ids of the stub's live remote sandboxes (files under the shared home). */
function stubResources(): Map<string, string> {
  const d = join(env.SANDBOXER_HOME as string, "saas-stub");
  const out = new Map<string, string>();
  if (!existsSync(d)) return out;
  for (const f of readdirSync(d).filter((x) => x.endsWith(".json"))) {
    try {
      const r = JSON.parse(readFileSync(join(d, f), "utf8")) as { metadata: { sandboxerId: string }; remoteId: string };
      out.set(r.metadata.sandboxerId, r.remoteId);
    } catch {}
  }
  return out;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sbx-replicas-"));
  db = await freshDatabase(inject("pgAdminUrl"));
  hub = await startHub();
  env = {
    ...process.env,
    SANDBOXER_HOME: join(dir, "home"),
    SANDBOXER_CONFIG: join(dir, "config.yaml"),
    SANDBOXER_DATABASE_URL: db.url,
    SANDBOXER_STATE_HUB_URL: hub.url,
    SANDBOXER_HOST: "",
    SANDBOXER_URL: "",
    // Long enough that a replica busy on a loaded machine is not judged dead; the kill test waits it out.
    SANDBOXER_OWNER_LEASE: "10",
  };
  const minted = await runCli(["tokens", "create", "--actor", "adm", "--json"], env);
  expect(minted.code, minted.stderr).toBe(0);
  token = minted.json<{ token: string }>().token;
  expect((await runCli(["credits", "add", "100000"], env)).code).toBe(0);
  for (const id of ["r1", "r2", "r3"]) replicas.push(await startReplica({ ...env, SANDBOXER_REPLICA_ID: id }, ["--reaper-interval", "1"]));
  store = new PostgresStore(db.url);
}, 120_000);

afterAll(async () => {
  for (const r of replicas) await r.stop();
  await store?.close();
  await hub?.close();
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

describe("three replicas on one PostgreSQL", { timeout: 300_000 }, () => {
  it("each replica reports the shared store; /readyz answers ready", async () => {
    for (const r of replicas) {
      const h = await fetch(`${r.url}/healthz`).then((x) => x.json());
      expect(h).toMatchObject({ ok: true, store: "postgres", replica: r.id });
      expect(await fetch(`${r.url}/readyz`).then((x) => x.status)).toBe(200);
    }
  });

  it("200 creates spread over them (some repeating an Idempotency-Key): the right number of sandboxes, no duplicate events, every event delivered to the hub once", async () => {
    const jobs = Array.from({ length: 200 }, (_, i) => ({ i, key: i < 50 ? `key-${i % 10}` : undefined }));
    const results: { i: number; key?: string | undefined; status: number; id: string; body: unknown }[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < jobs.length) {
          const job = jobs[next++] as (typeof jobs)[number];
          const r = await api<Sandbox>(
            replicas[job.i % 3] as Replica,
            token,
            "POST",
            "/v1/sandboxes",
            { profile: "profile.saas-stub" },
            job.key ? { "Idempotency-Key": job.key } : {},
          );
          results.push({ ...job, status: r.status, id: r.body.id, body: r.body });
        }
      }),
    );
    expect(results.filter((r) => r.status !== 201).map((r) => `${r.status} ${JSON.stringify(r.body)}`)).toEqual([]);
    for (let k = 0; k < 10; k++) expect(new Set(results.filter((r) => r.key === `key-${k}`).map((r) => r.id)).size).toBe(1);
    const ids = new Set(results.map((r) => r.id));
    expect(ids.size).toBe(160);
    const rows = (await store.sandboxes.list({ profile: "profile.saas-stub" })).filter((r) => ids.has(r.id));
    expect(rows.map((r) => r.state)).toEqual(Array(160).fill("ready"));
    // Records were made on all three replicas (each records its replica as owner while provisioning; events say who).
    const events = await store.events.list({ limit: 100_000 });
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    for (const id of ids) {
      const types = events.filter((e) => e.sandboxId === id).map((e) => e.type);
      for (const t of ["sandbox.requested", "sandbox.provisioning", "sandbox.ready"])
        expect(
          types.filter((x) => x === t),
          `${id} ${t}`,
        ).toHaveLength(1);
    }
    // Every replica publishes; claims never overlap, so the hub hears each event once.
    await until("every event at the hub", async () => ((await store.events.stats()).pending === 0 ? true : undefined), 120_000);
    const all = await store.events.list({ limit: 100_000 });
    for (const e of all) expect(hub.received.get(e.id), e.id).toBe(1);
    expect([...hub.received.values()].every((n) => n === 1)).toBe(true);
  });

  it("an SSE client on replica B sees a create made through replica A, and resumes exactly from Last-Event-ID on C", async () => {
    const last = (await store.events.list({ limit: 100_000 })).at(-1)?.seq ?? 0;
    const onB = follow(b(), token, last);
    await onB.opened;
    try {
      const made = await api<Sandbox>(a(), token, "POST", "/v1/sandboxes", { profile: "profile.saas-stub" });
      expect(made.status).toBe(201);
      await until(
        "the ready event on B",
        () => (onB.events.some((e) => e.sandboxId === made.body.id && e.type === "sandbox.ready") ? true : undefined),
        30_000,
      );
      const mine = onB.events.filter((e) => e.sandboxId === made.body.id).map((e) => e.type);
      expect(mine[0]).toBe("sandbox.requested");
      expect(mine.indexOf("sandbox.provisioning")).toBeGreaterThan(0);
      expect(mine.indexOf("sandbox.ready")).toBeGreaterThan(mine.indexOf("sandbox.provisioning"));
      // Resume on C from the middle of what B saw: the same events, in the same order, none skipped.
      const from = onB.events[1]?.id as number;
      const onC = follow(c(), token, from);
      await onC.opened;
      try {
        const expected = (await store.events.list({ afterSeq: from, limit: 100_000 })).map((e) => e.seq);
        await until("C caught up", () => (onC.events.length >= expected.length ? true : undefined), 30_000);
        expect(onC.events.map((e) => e.id).slice(0, expected.length)).toEqual(expected);
      } finally {
        onC.close();
      }
    } finally {
      onB.close();
    }
  });

  it("a tenant following events on B sees its own project's creates made through A, never another project's", async () => {
    const minted = await runCli(["tokens", "create", "--actor", "agt", "--project", "tenant-a", "--json"], env);
    const tenant = minted.json<{ token: string }>().token;
    expect((await runCli(["credits", "add", "10", "--project", "tenant-a"], env)).code).toBe(0);
    expect((await runCli(["credits", "add", "10", "--project", "tenant-b"], env)).code).toBe(0);
    const last = (await store.events.list({ limit: 100_000 })).at(-1)?.seq ?? 0;
    const onB = follow(b(), tenant, last);
    await onB.opened;
    try {
      const theirs = await api<Sandbox>(a(), token, "POST", "/v1/sandboxes", { profile: "profile.saas-stub", project: "tenant-b" });
      const mine = await api<Sandbox>(a(), tenant, "POST", "/v1/sandboxes", { profile: "profile.saas-stub" });
      expect([theirs.status, mine.status]).toEqual([201, 201]);
      await until(
        "the tenant's ready event",
        () => (onB.events.some((e) => e.sandboxId === mine.body.id && e.type === "sandbox.ready") ? true : undefined),
        30_000,
      );
      expect(onB.events.filter((e) => e.sandboxId === theirs.body.id)).toEqual([]);
      // Another project's record is not found through any replica.
      for (const r of replicas) expect((await api(r, tenant, "GET", `/v1/sandboxes/${theirs.body.id}`)).status).toBe(404);
    } finally {
      onB.close();
    }
  });

  it("a create slower than the owner lease is not taken from a live replica: its heartbeat keeps it", async () => {
    const slow = await startReplica({ ...env, SANDBOXER_REPLICA_ID: "r5", SANDBOXER_SAAS_STUB_DELAY_MS: "16000" }, ["--no-reaper"]);
    try {
      const made = await api<Sandbox>(slow, token, "POST", "/v1/sandboxes", { profile: "profile.saas-stub" });
      expect(made.status).toBe(201);
      expect(made.body.state).toBe("ready");
      const events = (await store.events.list({ sandboxId: made.body.id })).map((e) => e.type);
      expect(events).not.toContain("sandbox.failed");
    } finally {
      await slow.stop();
    }
  });

  it("a replica whose database is unreachable says so: /healthz 503 (no password in it), /readyz 503", async () => {
    const lost = await startReplica({ ...env, SANDBOXER_REPLICA_ID: "r6", SANDBOXER_DATABASE_URL: "postgres://sbx:hunter2@127.0.0.1:9/gone" }, ["--no-reaper"]);
    try {
      const h = await fetch(`${lost.url}/healthz`);
      expect(h.status).toBe(503);
      const body = await h.text();
      expect(JSON.parse(body)).toMatchObject({
        ok: false,
        store: "postgres",
        replica: "r6",
        error: expect.stringMatching(/cannot reach PostgreSQL at postgres:\/\/sbx:\*\*\*@127\.0\.0\.1:9\/gone/),
      });
      expect(body).not.toContain("hunter2");
      const ready = await fetch(`${lost.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ ready: false });
    } finally {
      await lost.stop();
    }
  });

  it("credits for N, concurrent creates through different replicas: exactly N", async () => {
    const N = 4;
    expect((await runCli(["credits", "add", String(N), "--project", "cred"], env)).code).toBe(0);
    const tries = await Promise.all(
      Array.from({ length: 3 * N }, (_, i) =>
        api<Sandbox>(replicas[i % 3] as Replica, token, "POST", "/v1/sandboxes", { profile: "profile.saas-stub", project: "cred", ttl: "1h" }),
      ),
    );
    expect(tries.filter((t) => t.status === 201)).toHaveLength(N);
    expect(tries.filter((t) => t.status === 402)).toHaveLength(2 * N);
    const acct = await store.credits.account("cred");
    expect(acct).toMatchObject({ balanceMicro: N * 1_000_000, reservedMicro: N * 1_000_000 });
    expect((await store.sandboxes.list({ project: "cred" })).length).toBe(N);
  });

  it("two reapers on two replicas destroy each expired sandbox once", async () => {
    const made = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        api<Sandbox>(replicas[i % 2] as Replica, token, "POST", "/v1/sandboxes", { profile: "profile.saas-stub", ttl: "2s" }),
      ),
    );
    const ids = made.map((m) => m.body.id);
    await until("all expired and destroyed", async () => {
      const rows = await Promise.all(ids.map((id) => store.sandboxes.get(id)));
      return rows.every((r) => r?.state === "destroyed") ? rows : undefined;
    });
    const events = await store.events.list({ limit: 100_000 });
    for (const id of ids) {
      expect(await store.sandboxes.get(id)).toMatchObject({ state: "destroyed", reason: "ttl" });
      expect(events.filter((e) => e.sandboxId === id && e.type === "sandbox.expired")).toHaveLength(1);
      expect(events.filter((e) => e.sandboxId === id && e.type === "sandbox.destroyed")).toHaveLength(1);
      expect(stubResources().has(id)).toBe(false);
    }
  });

  it("kill -9 of a replica in the middle of creates: another reconciles them once its heartbeat is stale", async () => {
    // The victim provisions slowly (creates in flight for 30s) and holds no reaper lease.
    const victim = await startReplica({ ...env, SANDBOXER_REPLICA_ID: "r4", SANDBOXER_SAAS_STUB_DELAY_MS: "30000" }, ["--no-reaper"]);
    const accepted = await Promise.all(
      Array.from({ length: 8 }, () => api<Sandbox>(victim, token, "POST", "/v1/sandboxes?wait=false", { profile: "profile.saas-stub" })),
    );
    expect(accepted.map((x) => x.status)).toEqual(Array(8).fill(202));
    const ids = accepted.map((x) => x.body.id);
    await until("the victim's resources exist", () => (ids.every((id) => stubResources().has(id)) ? true : undefined), 30_000);
    for (const id of ids) expect(await store.sandboxes.get(id)).toMatchObject({ state: "provisioning", ownerReplica: "r4" });
    await victim.kill();
    const settled = await until("no record left in flight", async () => {
      const rows = await Promise.all(ids.map((id) => store.sandboxes.get(id)));
      return rows.every((r) => r && r.state !== "provisioning" && r.state !== "requested") ? rows : undefined;
    });
    for (const r of settled) {
      expect(r).toMatchObject({ state: "failed", reason: "failed-provision", error: { code: "SBX_CANCELLED" }, ownerPid: null });
      expect(r?.error?.message).toMatch(/owner process \d+ on replica r4 died while provisioning/);
      expect(r?.destroyedAt).not.toBeNull();
    }
    // No live resource without a live record, no live record without its resource.
    const live = new Set((await store.sandboxes.list({ states: ["ready"] })).map((r) => r.id));
    for (const id of stubResources().keys()) expect(live.has(id), `resource of ${id}`).toBe(true);
    for (const id of live) expect(stubResources().has(id), `record ${id}`).toBe(true);
  });

  it("a replica paused past the owner lease (SIGSTOP) loses its create to another, and cannot make it ready when it wakes", async () => {
    const paused = await startReplica({ ...env, SANDBOXER_REPLICA_ID: "r7", SANDBOXER_SAAS_STUB_DELAY_MS: "3000" }, ["--no-reaper"]);
    try {
      const made = await api<Sandbox>(paused, token, "POST", "/v1/sandboxes?wait=false", { profile: "profile.saas-stub" });
      expect(made.status).toBe(202);
      paused.child.kill("SIGSTOP");
      const taken = await until("taken over", async () => {
        const r = await store.sandboxes.get(made.body.id);
        return r?.state === "failed" ? r : undefined;
      });
      expect(taken.error?.message).toMatch(/on replica r7 died while provisioning/);
      paused.child.kill("SIGCONT");
      // Its create wakes, finds the record is no longer its own, and settles without resurrecting it.
      await until(
        "the woken create settles",
        async () =>
          (await store.events.list({ sandboxId: made.body.id })).some(
            (e) => e.type === "sandbox.progress" && String(e.data.message).includes("provision failed"),
          )
            ? true
            : undefined,
        30_000,
      );
      expect(await store.sandboxes.get(made.body.id)).toMatchObject({ state: "failed" });
      expect((await store.events.list({ sandboxId: made.body.id })).map((e) => e.type)).not.toContain("sandbox.ready");
      expect(stubResources().has(made.body.id)).toBe(false);
    } finally {
      paused.child.kill("SIGCONT");
      await paused.stop();
    }
  });
});
