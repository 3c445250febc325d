/**
 * Warm pools across processes (issue 14): 50 concurrent creates from
 * separate CLI processes against a pool of 10 (exactly 10 served by members,
 * 40 cold, no member twice), and kill -9 at the named crash points of a
 * claim and of a refill, then reconcile: the store stays truthful. Run on
 * each store: test/pools-crash.test.ts (SQLite) and
 * test/pools-crash-postgres.test.ts (`extraEnv` gives SANDBOXER_DATABASE_URL).
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Broker } from "../src/broker.js";
import type { Env } from "../src/config.js";
import { isSandboxArgv } from "../src/extensions/local/bwrap.js";
import { findProcesses } from "../src/proc.js";
import type { Sandbox, SandboxRow } from "../src/types.js";
import { runCli } from "./helpers/cli.js";
import { makeHome, type TestHome } from "./helpers/home.js";
import { openStore } from "./helpers/store.js";

export function poolsCrashSuite(name: string, store: { env(): Promise<Env>; cleanup?(): Promise<void> } = { env: async () => ({}) }): void {
  let home: TestHome;
  let broker: Broker;
  let repo: string;

  beforeAll(async () => {
    home = makeHome(await store.env());
    const profiles = join(home.dir, "profiles");
    repo = join(home.dir, "repo");
    mkdirSync(profiles, { recursive: true });
    mkdirSync(repo, { recursive: true });
    writeFileSync(join(repo, "a.txt"), "a\n");
    // No disk image per sandbox: 40 cold creates at once stay quick on a shared machine.
    writeFileSync(
      join(profiles, "profile.pooled.yaml"),
      "id: profile.pooled\nversion: 1\nextension: ext.local\nplacement: { hosts: [localhost] }\ntimeout: 2m\ninputs:\n  repo: { type: path }\nlimits: { disk: unlimited }\n",
    );
    home.env.SANDBOXER_PROFILES_DIR = profiles;
    broker = home.broker();
  });
  afterAll(async () => {
    await home?.cleanup();
    await store.cleanup?.();
  });

  const cli = (...args: string[]) => runCli(args, home.env, { timeoutMs: 180_000 });
  const crashing = (point: string, ...args: string[]) => runCli(args, { ...home.env, SANDBOXER_CRASH_AT: point });
  const procs = (id?: string) => findProcesses((a) => isSandboxArgv(a, id) !== null && a.join(" ").includes(home.env.SANDBOXER_HOME as string));
  const workspaces = () => {
    const d = join(home.env.SANDBOXER_HOME as string, "workspaces");
    return existsSync(d) ? readdirSync(d) : [];
  };

  async function rows(): Promise<SandboxRow[]> {
    const s = openStore(home.env);
    try {
      return await s.sandboxes.list({ pool: "all" });
    } finally {
      await s.close();
    }
  }
  async function expireLease(): Promise<void> {
    const s = openStore(home.env);
    try {
      const held = await s.leases.get("reaper");
      if (held) await s.leases.release("reaper", held.holder);
    } finally {
      await s.close();
    }
  }
  const warm = async () => (await rows()).filter((r) => r.pool && r.poolStage === "warm" && r.state === "ready").map((r) => r.id);

  /** Every record settled; resources exist exactly for ready ones (members included). */
  async function expectTruthful(): Promise<void> {
    for (const r of await rows()) {
      expect(["ready", "failed", "destroyed"], `${r.id} is ${r.state} (${r.poolStage})`).toContain(r.state);
      if (r.state === "ready") expect(r.poolStage === "claimed" || r.poolStage === "applying", `${r.id} still claimed by a dead process`).toBe(false);
      const live = r.state === "ready";
      expect({ id: r.id, dir: workspaces().includes(r.id), proc: procs(r.id).length > 0 }).toEqual({ id: r.id, dir: live, proc: live });
    }
  }

  describe(`${name}: 50 concurrent creates from separate processes against a pool of 10`, () => {
    it("exactly 10 are served by members, 40 are created cold, no member twice", async () => {
      expect((await cli("pools", "set", "profile.pooled", "--size", "10", "--json")).code).toBe(0);
      await broker.refillPools({ perPool: 10 });
      const members = await warm();
      expect(members).toHaveLength(10);
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => cli("create", "--profile", "profile.pooled", "--project", `p${i % 5}`, "--actor", "agt", "--json")),
      );
      for (const r of results) expect(r.stderr).toBe("");
      const made = results.map((r) => r.json<Sandbox>());
      expect(new Set(made.map((s) => s.id)).size).toBe(50);
      const pooled = made.filter((s) => s.route?.pool?.served);
      const cold = made.filter((s) => s.route?.pool?.served === false);
      expect([pooled.length, cold.length]).toEqual([10, 40]);
      expect(new Set(pooled.map((s) => s.id))).toEqual(new Set(members));
      for (const s of pooled) expect(s).toMatchObject({ state: "ready", actor: "agt", project: expect.stringMatching(/^p\d$/) });
      const status = (await cli("pools", "list", "--json")).json<{ key: string; claimed: number; misses: number; ready: number }[]>();
      expect(status.find((p) => p.key === "profile.pooled")).toMatchObject({ claimed: 10, misses: 40, ready: 0 });
      // Each claimed member shows exactly one requested and one ready event, pooled.
      const events = (await broker.events({ limit: 100_000 })).filter((e) => members.includes(e.sandboxId ?? ""));
      expect(events.map((e) => e.type).sort()).toEqual([...Array(10).fill("sandbox.ready"), ...Array(10).fill("sandbox.requested")]);
      const destroyed = await Promise.all(made.map((s) => cli("destroy", s.id, "--json")));
      for (const r of destroyed) expect(r.code).toBe(0);
      await expectTruthful();
    }, 300_000);
  });

  describe(`${name}: kill -9 during a claim and during a refill, then reconcile`, () => {
    it("killed after taking a member, before applying anything: reconcile returns it to the pool, and it serves the next create", async () => {
      await broker.setPool({ profile: "profile.pooled", size: 2 });
      await broker.refillPools({ perPool: 2 });
      const before = await warm();
      expect(before).toHaveLength(2);
      const r = await crashing("pool-claimed", "create", "--profile", "profile.pooled", "--input", `repo=${repo}`, "--json");
      expect(r.code).not.toBe(0);
      const stuck = (await rows()).find((x) => x.poolStage === "claimed");
      expect(stuck && before.includes(stuck.id)).toBe(true);
      expect((await cli("list", "--json")).json<Sandbox[]>()).toEqual([]);
      const rec = (await cli("reconcile", "--json")).json<{ actions: { id: string; to: string; why: string }[] }>();
      expect(rec.actions).toContainEqual(expect.objectContaining({ id: stuck?.id, to: "ready", why: expect.stringContaining("returned to pool") }));
      expect((await warm()).sort()).toEqual([...before].sort());
      const sb = (await cli("create", "--profile", "profile.pooled", "--input", `repo=${repo}`, "--json")).json<Sandbox>();
      expect(before).toContain(sb.id);
      expect(sb.route?.pool?.served).toBe(true);
      await cli("destroy", sb.id);
      await expectTruthful();
    }, 120_000);

    it("killed during the per-request copy: reconcile destroys the member (it never goes back), the refill replaces it", async () => {
      const before = await warm();
      expect(before.length).toBeGreaterThan(0);
      const r = await crashing("pool-applying", "create", "--profile", "profile.pooled", "--input", `repo=${repo}`, "--json");
      expect(r.code).not.toBe(0);
      const stuck = (await rows()).find((x) => x.poolStage === "applying" && x.state === "ready");
      expect(stuck).toBeTruthy();
      const rec = (await cli("reconcile", "--json")).json<{ actions: { id: string; to: string }[] }>();
      expect(rec.actions).toContainEqual(expect.objectContaining({ id: stuck?.id, to: "destroyed" }));
      expect((await rows()).find((x) => x.id === stuck?.id)).toMatchObject({ state: "destroyed", reason: "reap", pool: "profile.pooled" });
      expect(await warm()).not.toContain(stuck?.id);
      await expectTruthful();
      const pass = await cli("reaper", "--once", "--json");
      expect(pass.code).toBe(0);
      expect(pass.json<{ pools: { pools: { key: string; created: string[] }[] } }>().pools.pools.find((p) => p.key === "profile.pooled")?.created).toHaveLength(
        1,
      );
      expect(await warm()).toHaveLength(before.length);
    }, 120_000);

    it.each(["refill-requested", "refill-provisioning", "refill-before-ready"])(
      "a refill killed at %s: reconcile tears the half-made member down; nobody ever sees it",
      async (point) => {
        await broker.drainPool("profile.pooled");
        await broker.setPool({ profile: "profile.pooled", size: 1 });
        const r = await crashing(point, "reaper", "--once", "--json");
        expect(r.code).not.toBe(0);
        const half = (await rows()).find((x) => x.poolStage === "warming" && (x.state === "requested" || x.state === "provisioning"));
        expect(half, "the killed refill left an in-flight member").toBeTruthy();
        expect((await cli("list", "--all", "--json")).json<Sandbox[]>().map((s) => s.id)).not.toContain(half?.id);
        const rec = (await cli("reconcile", "--json")).json<{ actions: { id: string; to: string }[] }>();
        expect(rec.actions).toContainEqual(expect.objectContaining({ id: half?.id, to: "failed" }));
        await expectTruthful();
        // The dead reaper's lease would run out in a minute or so; here it is let go at once.
        await expireLease();
        // The next pass makes a good one.
        expect((await cli("reaper", "--once", "--json")).code).toBe(0);
        expect(await warm()).toHaveLength(1);
        await expectTruthful();
      },
      120_000,
    );
  });
}
