/**
 * Warm pools on E2B (issue 14), through the official `e2b` SDK against the
 * local server speaking E2B's wire contract (test/fakes/e2b-server.ts):
 * refill, claim (the vendor's timeout follows the consumer's TTL), credits
 * (idle on the pool account, the consumer from its claim), drain, and
 * kill -9 during a claim's per-request work.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Broker } from "../src/broker.js";
import type { Sandbox } from "../src/types.js";
import { type E2bFake, startE2bFake } from "./fakes/e2b-server.js";
import { runCli } from "./helpers/cli.js";
import { makeHome, type TestHome } from "./helpers/home.js";
import { openStore } from "./helpers/store.js";

let fake: E2bFake;
let home: TestHome;
let broker: Broker;
const PIPE = { stdin: "ignore", stdout: "pipe", stderr: "pipe" } as const;

beforeAll(async () => {
  fake = await startE2bFake();
  home = makeHome({ E2B_API_URL: fake.url, E2B_SANDBOX_URL: fake.sandboxUrl, E2B_API_KEY: fake.apiKey });
  const profiles = join(home.dir, "profiles");
  mkdirSync(profiles, { recursive: true });
  writeFileSync(
    join(profiles, "profile.e2b-pooled.yaml"),
    "id: profile.e2b-pooled\nversion: 1\nextension: ext.e2b\nplacement: { hosts: [localhost] }\nttl: { default: 1h, max: 8h }\ninputs:\n  repo: { type: path }\nsettings: { template: base }\npool: { size: 2, maxIdle: 20m }\n",
  );
  home.env.SANDBOXER_PROFILES_DIR = profiles;
  broker = home.broker();
  await broker.addCredits({ account: "_pool", amount: 10 });
  await broker.addCredits({ account: "p1", amount: 10 });
});
afterAll(async () => {
  await home?.cleanup();
  await fake?.close();
});

const remoteOf = (id: string) => [...fake.sandboxes.values()].find((s) => s.metadata.sandboxerId === id);
async function warmIds(): Promise<string[]> {
  const s = openStore(home.env);
  try {
    return (await s.sandboxes.list({ pool: "only", states: ["ready"] })).filter((r) => r.poolStage === "warm").map((r) => r.id);
  } finally {
    await s.close();
  }
}

describe("warm pools on E2B", () => {
  it("refill makes members with the vendor timeout at maxIdle plus grace, on the pool account", async () => {
    const r = await broker.refillPools({ perPool: 2 });
    expect(r.pools.find((p) => p.key === "profile.e2b-pooled")).toMatchObject({ created: [expect.any(String), expect.any(String)], errors: [] });
    const ids = await warmIds();
    expect(ids).toHaveLength(2);
    for (const id of ids) {
      const remote = remoteOf(id);
      expect(remote?.state).toBe("running");
      expect(Date.parse(remote?.endAt ?? "") - Date.parse(remote?.startedAt ?? "")).toBe((20 * 60 + 600) * 1000);
    }
    expect((await broker.credits({ account: "_pool" }))[0]?.reserved).toBeGreaterThan(0);
    expect((await broker.credits({ account: "p1" }))[0]?.reserved).toBe(0);
    expect(await broker.list()).toEqual([]);
  }, 60_000);

  it("a tenant's create claims one: the vendor timeout follows its TTL, the repo input is accepted, exec runs, credits are its own from now", async () => {
    const members = await warmIds();
    const sb = await broker.create({ profile: "profile.e2b-pooled", inputs: { repo: "/srv/not-uploaded" }, ttl: "2h", actor: "agt", project: "p1" });
    expect(members).toContain(sb.id);
    expect(sb).toMatchObject({ state: "ready", project: "p1", ttlSeconds: 7200, route: { pool: { served: true } } });
    const remote = remoteOf(sb.id);
    expect(Math.abs(Date.parse(remote?.endAt ?? "") - Date.parse(sb.expiresAt ?? ""))).toBeLessThan(5000);
    const out = await broker.exec(sb.id, ["sh", "-c", "echo pooled"], PIPE);
    expect(out).toMatchObject({ exitCode: 0, stdout: "pooled\n" });
    // The idle hold on the pool account is closed; p1 holds price x TTL from the claim.
    const p1 = (await broker.credits({ account: "p1" }))[0];
    expect(p1?.reserved).toBeGreaterThan(0);
    const hist = await broker.creditHistory({ account: "_pool" });
    expect(hist.filter((e) => e.sandboxId === sb.id).map((e) => e.kind)).toEqual(expect.arrayContaining(["reserve", "release"]));
    const done = await broker.destroy(sb.id);
    expect(done.state).toBe("destroyed");
    expect(remoteOf(sb.id)).toBeUndefined();
    expect((await broker.credits({ account: "p1" }))[0]?.reserved).toBe(0);
  }, 60_000);

  it("killed during the claim's per-request work (the vendor timeout): reconcile destroys the member at the vendor too", async () => {
    const before = await warmIds();
    expect(before).toHaveLength(1);
    const r = await runCli(["create", "--profile", "profile.e2b-pooled", "--project", "p1", "--json"], { ...home.env, SANDBOXER_CRASH_AT: "pool-applying" });
    expect(r.code).not.toBe(0);
    expect(remoteOf(before[0] as string)?.state).toBe("running");
    const rec = await runCli(["reconcile", "--json"], home.env);
    expect(rec.json<{ actions: { id: string; to: string }[] }>().actions).toContainEqual(expect.objectContaining({ id: before[0], to: "destroyed" }));
    expect(remoteOf(before[0] as string)).toBeUndefined();
    expect(await warmIds()).toEqual([]);
  }, 60_000);

  it("drain kills every warm member at the vendor", async () => {
    await broker.refillPools({ perPool: 2 });
    const ids = await warmIds();
    expect(ids).toHaveLength(2);
    const d = await broker.drainPool("profile.e2b-pooled");
    expect(d.destroyed.sort()).toEqual([...ids].sort());
    for (const id of ids) expect(remoteOf(id)).toBeUndefined();
    const sb: Sandbox = await broker.create({ profile: "profile.e2b-pooled", project: "p1", actor: "agt" });
    expect(sb.route?.pool).toBeUndefined();
    await broker.destroy(sb.id);
    expect((await broker.credits({ account: "_pool" }))[0]?.reserved).toBe(0);
  }, 60_000);
});
