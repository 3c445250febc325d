/**
 * Warm pools across `serve` replicas on one PostgreSQL (issues 13 and 14): a
 * replica killed with -9 in the middle of a claim leaves a member owned by
 * its replica id; another replica cannot see that pid, so it judges the
 * claim by its heartbeat, as it judges a create, and once the heartbeat is
 * stale returns an untouched member to the pool or destroys one whose
 * per-request work had begun. Backend ext.local (one machine, so resources
 * can be checked exactly); victims crash at the claim's named crash points.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type Broker, createBroker } from "../src/broker.js";
import { isSandboxArgv } from "../src/extensions/local/bwrap.js";
import { findProcesses } from "../src/proc.js";
import type { Store } from "../src/store/types.js";
import type { Sandbox, SandboxRow } from "../src/types.js";
import { freshDatabase } from "./fixtures/postgres.js";
import { api, type Replica, startReplica, until } from "./fixtures/replicas.js";
import { makeHome, type TestHome } from "./helpers/home.js";
import { openStore } from "./helpers/store.js";

let db: { url: string; drop(): Promise<void> };
let home: TestHome;
let broker: Broker;
let store: Store;
let token: string;
let repo: string;
let r1: Replica | undefined;
const survivor = async (): Promise<Replica> => {
  // Its reaper reconciles every second (dead owners' records need no lease).
  r1 ??= await startReplica({ ...home.env, SANDBOXER_REPLICA_ID: "r1" }, ["--reaper-interval", "1"]);
  return r1;
};

const procs = (id?: string) => findProcesses((a) => isSandboxArgv(a, id) !== null && a.join(" ").includes(home.env.SANDBOXER_HOME as string));
const workspaces = () => {
  const d = join(home.env.SANDBOXER_HOME as string, "workspaces");
  return existsSync(d) ? readdirSync(d) : [];
};
const members = async (): Promise<SandboxRow[]> => store.pools.members("profile.pooled");

beforeAll(async () => {
  db = await freshDatabase(inject("pgAdminUrl"));
  // A short owner lease: the dead replica's heartbeat goes stale in seconds.
  home = makeHome({ SANDBOXER_DATABASE_URL: db.url, SANDBOXER_OWNER_LEASE: "3", SANDBOXER_REPLICA_ID: "test" });
  const profiles = join(home.dir, "profiles");
  repo = join(home.dir, "repo");
  mkdirSync(profiles, { recursive: true });
  mkdirSync(repo, { recursive: true });
  writeFileSync(join(repo, "a.txt"), "a\n");
  writeFileSync(
    join(profiles, "profile.pooled.yaml"),
    "id: profile.pooled\nversion: 1\nextension: ext.local\nplacement: { hosts: [localhost] }\ntimeout: 2m\ninputs:\n  repo: { type: path }\nlimits: { disk: unlimited }\n",
  );
  home.env.SANDBOXER_PROFILES_DIR = profiles;
  broker = home.broker();
  store = openStore(home.env);
  token = (await broker.createToken({ actor: "adm" })).token;
  await broker.setPool({ profile: "profile.pooled", size: 2 });
  await broker.refillPools({ perPool: 2 });
}, 120_000);

afterAll(async () => {
  await r1?.stop();
  await store?.close();
  await home?.cleanup();
  await db?.drop();
});

/** A replica that kills itself (-9) at `point` of the claim it serves; resolves once it is gone. */
async function claimAndDie(id: string, point: string): Promise<void> {
  const victim = await startReplica({ ...home.env, SANDBOXER_REPLICA_ID: id, SANDBOXER_CRASH_AT: point }, ["--no-reaper"]);
  try {
    await expect(api(victim, token, "POST", "/v1/sandboxes", { profile: "profile.pooled", inputs: { repo } })).rejects.toThrow();
  } finally {
    await victim.stop();
  }
}

describe("kill -9 of a replica during a claim, judged by another replica", { timeout: 180_000 }, () => {
  it("a claim owned on another machine is judged by its heartbeat, never by a pid this machine cannot see", async () => {
    // A reconciler with a long lease, so only the heartbeat's age set below decides (no survivor running yet).
    const judge = createBroker({ env: { ...home.env, SANDBOXER_REPLICA_ID: "judge", SANDBOXER_OWNER_LEASE: "600" } });
    try {
      const far = { replica: "far-away", pid: 999_999, start: null };
      const q = { pool: "profile.pooled", profileVersion: 1, targets: [{ extension: "ext.local", host: "*" }] };
      const taken = await store.pools.claim(q, far, new Date().toISOString());
      expect(taken).toMatchObject({ poolStage: "claimed", ownerReplica: "far-away", ownerPid: 999_999 });
      // No process 999999 here, but its heartbeat is fresh: the claim is alive and stays.
      const fresh = await judge.reconcile();
      expect(fresh.actions.map((a) => a.id)).not.toContain(taken?.id);
      expect(await store.sandboxes.get(taken?.id as string)).toMatchObject({ poolStage: "claimed", ownerReplica: "far-away" });
      // Its heartbeat stops (older than the lease): returned to the pool, untouched.
      await store.sandboxes.update(taken?.id as string, { ownerBeatAt: new Date(Date.now() - 3_600_000).toISOString() });
      const stale = await judge.reconcile();
      expect(stale.actions).toContainEqual(
        expect.objectContaining({
          id: taken?.id,
          to: "ready",
          why: expect.stringMatching(/on replica far-away died before applying anything: returned to pool/),
        }),
      );
      expect(await store.sandboxes.get(taken?.id as string)).toMatchObject({ poolStage: "warm", ownerPid: null, ownerReplica: null, ownerBeatAt: null });
    } finally {
      await judge.close();
    }
  });

  it("killed after taking a member: the survivor returns it to the pool once the heartbeat is stale, and it serves the next create", async () => {
    const before = (await members()).filter((m) => m.poolStage === "warm" && m.state === "ready").map((m) => m.id);
    expect(before).toHaveLength(2);
    await survivor();
    await claimAndDie("rA", "pool-claimed");
    const stuck = (await members()).find((m) => m.poolStage === "claimed");
    expect(stuck).toMatchObject({ ownerReplica: "rA", state: "ready" });
    expect(before).toContain(stuck?.id);
    const back = await until("the member back in its pool", async () => {
      const m = await store.sandboxes.get(stuck?.id as string);
      return m?.poolStage === "warm" ? m : undefined;
    });
    expect(back).toMatchObject({ pool: "profile.pooled", state: "ready", ownerPid: null, ownerReplica: null });
    // Once (the survivor's reconcile runs every second; the compare-and-set lets one pass act).
    const returned = (await store.events.list({ sandboxId: back.id, limit: 1000 })).filter(
      (e) => e.type === "pool.member_returned" && String(e.data.why).includes("replica rA"),
    );
    expect(returned).toHaveLength(1);
    expect(String(returned[0]?.data.why)).toMatch(/claiming process \d+ on replica rA died/);
    // Nobody ever had it: the next create through the survivor is served by it (or by its sibling).
    const made = await api<Sandbox>(await survivor(), token, "POST", "/v1/sandboxes", { profile: "profile.pooled" });
    expect(made.status).toBe(201);
    expect(made.body.route?.pool?.served).toBe(true);
    expect(before).toContain(made.body.id);
    expect((await api(await survivor(), token, "DELETE", `/v1/sandboxes/${made.body.id}`)).status).toBeLessThan(300);
  });

  it("killed during the per-request copy: the survivor destroys the member (it never goes back) and nothing of it is left", async () => {
    await until("a warm member", async () => ((await members()).some((m) => m.poolStage === "warm" && m.state === "ready") ? true : undefined));
    await claimAndDie("rB", "pool-applying");
    const stuck = (await members()).find((m) => m.poolStage === "applying");
    expect(stuck).toMatchObject({ ownerReplica: "rB", state: "ready" });
    const gone = await until("the member destroyed", async () => {
      const m = await store.sandboxes.get(stuck?.id as string);
      return m?.state === "destroyed" ? m : undefined;
    });
    expect(gone).toMatchObject({ reason: "reap", pool: "profile.pooled" });
    expect(procs(gone.id)).toEqual([]);
    expect(workspaces()).not.toContain(gone.id);
    // Tenants never saw it: not in the consumer list of any replica.
    const listed = await api<{ items: Sandbox[] }>(await survivor(), token, "GET", "/v1/sandboxes?all=true");
    expect(listed.body.items.map((s) => s.id)).not.toContain(gone.id);
  });
});
