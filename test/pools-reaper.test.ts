/**
 * The pool keeper inside the reaper (issue 14): two reapers on one home
 * refill in the background under the one lease, so a pool is never
 * overfilled; a claim is replaced without anyone asking.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Broker, RefillReport } from "../src/broker.js";
import { type Reaper, startReaper } from "../src/reaper.js";
import { makeHome, type TestHome } from "./helpers/home.js";
import { openStore } from "./helpers/store.js";

let home: TestHome;
let a: Broker;
let b: Broker;
const reapers: Reaper[] = [];

beforeAll(() => {
  home = makeHome();
  const profiles = join(home.dir, "profiles");
  mkdirSync(profiles, { recursive: true });
  writeFileSync(
    join(profiles, "profile.kept.yaml"),
    "id: profile.kept\nversion: 1\nextension: ext.local\nplacement: { hosts: [localhost] }\nlimits: { disk: unlimited }\npool: { size: 3 }\n",
  );
  home.env.SANDBOXER_PROFILES_DIR = profiles;
  a = home.broker();
  b = home.broker();
});
afterAll(async () => {
  for (const r of reapers) await r.stop();
  await home.cleanup();
});

async function until(what: string, check: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function members() {
  const s = openStore(home.env);
  try {
    return (await s.sandboxes.list({ pool: "only" })).filter((r) => r.pool === "profile.kept");
  } finally {
    await s.close();
  }
}

describe("the pool keeper in the reaper", () => {
  it("two reapers: only the lease holder refills, the pool reaches its size and never more; a claim is replaced", async () => {
    const reports: { who: string; r: RefillReport }[] = [];
    for (const [who, broker] of [
      ["a", a],
      ["b", b],
    ] as const) {
      reapers.push(
        startReaper(broker, { intervalMs: 60_000, poolIntervalMs: 20, reconcile: false, onRefill: (r) => "pools" in r && reports.push({ who, r }) }),
      );
    }
    await until("3 warm members", async () => (await a.pools())[0]?.ready === 3);
    const made = reports.flatMap((x) => x.r.pools.flatMap((p) => p.created.map((id) => ({ who: x.who, id }))));
    expect(made).toHaveLength(3);
    expect(new Set(made.map((m) => m.who)).size).toBe(1);
    // Keepers keep polling: nothing more is made while the pool is full.
    await new Promise((r) => setTimeout(r, 300));
    expect((await members()).filter((m) => m.state !== "destroyed")).toHaveLength(3);
    const sb = await a.create({ profile: "profile.kept" });
    expect(sb.route?.pool?.served).toBe(true);
    await until("the claimed member replaced", async () => (await a.pools())[0]?.ready === 3);
    expect((await members()).filter((m) => m.state !== "destroyed")).toHaveLength(3);
    const status = (await a.pools())[0];
    expect(status?.refillLagMs?.samples).toBeGreaterThanOrEqual(1);
    await a.destroy(sb.id);
  }, 120_000);
});
