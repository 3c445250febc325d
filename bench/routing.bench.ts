/**
 * Routing and metered-create benchmarks (issue 6). Prints figures, asserts nothing.
 *  1. The routing decision with 10 candidates and 10k records of history:
 *     the pure decideRoute, and the store reads that feed it.
 *  2. Broker overhead over a raw `e2b` SDK create + kill against the same local
 *     E2B wire-contract server, as a ratio (target <= 1.1), with the server
 *     answering at once and with a 150 ms control-plane round trip.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createBroker } from "../src/broker.js";
import { type Profile, profileSchema, type Registration, registrationSchema } from "../src/catalog/schema.js";
import { randomIds } from "../src/ids.js";
import { decideRoute } from "../src/routing/index.js";
import { gatherRoutingInputs } from "../src/broker/routing-inputs.js";
import { SqliteStore } from "../src/store/sqlite.js";
import { LOCALHOST, type SandboxRow, systemClock } from "../src/types.js";
import { startE2bFake } from "../test/fakes/e2b-server.js";

const results: Record<string, number> = {};
const fmt = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(1)} µs` : `${ms.toFixed(2)} ms`);

function timeIt(n: number, fn: () => void): number {
  for (let i = 0; i < Math.min(200, n); i++) fn();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn();
  return (performance.now() - t0) / n;
}

async function routingDecision(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "sbx-bench-route-"));
  try {
    const store = new SqliteStore(join(dir, "sandboxer.db"));
    const ids = ["ext.local", "ext.saas-stub", "ext.e2b", "ext.daytona"];
    const candidates = Array.from({ length: 10 }, (_, i) => ids[i % ids.length] as string);
    const regs = new Map<string, Registration>(
      ids.map((id, i) => [
        id,
        { ...registrationSchema.parse({ id, pricePerHour: i * 0.3, expectedReadySeconds: 1 + i, limits: { maxSandboxes: 100_000 } }), file: "" },
      ]),
    );
    // Ten distinct candidate names over four real registrations: the decision walks all ten.
    const names = candidates.map((id, i) => (i < ids.length ? id : `${id}-${i}`));
    for (const [i, n] of names.entries()) if (!regs.has(n)) regs.set(n, { ...(regs.get(candidates[i] as string) as Registration), id: n });
    const profile: Profile = {
      ...profileSchema.parse({ id: "profile.bench", version: 1, route: { strategy: "lowest-latency", candidates: names } }),
      file: "",
    };
    const now = Date.now();
    await store.tx(async (t) => {
      for (let i = 0; i < 10_000; i++) {
        const created = new Date(now - (10_000 - i) * 1000).toISOString();
        const row: SandboxRow = {
          id: randomIds("sbx"),
          profile: "profile.bench",
          profileVersion: 1,
          extension: names[i % 10] as string,
          mode: null,
          host: "localhost",
          state: i % 50 === 0 ? "ready" : "destroyed",
          actor: "adm",
          project: null,
          inputs: {},
          createdAt: created,
          readyAt: new Date(Date.parse(created) + 50 + (i % 7) * 100).toISOString(),
          expiresAt: null,
          destroyedAt: null,
          reason: null,
          reachability: null,
          route: null,
          cost: null,
          error: null,
          hostFacts: null,
          ttlSeconds: 3600,
          updatedAt: created,
          handle: null,
          ownerPid: null,
          ownerStart: null,
        };
        await t.sandboxes.insert(row);
      }
    });
    const hosts = new Map([["localhost", LOCALHOST]]);
    let inputs = await gatherRoutingInputs(store, systemClock, profile, hosts);
    const t0 = performance.now();
    const n = 200;
    for (let i = 0; i < n; i++) inputs = await gatherRoutingInputs(store, systemClock, profile, hosts);
    const gather = (performance.now() - t0) / n;
    const decide = timeIt(20_000, () => decideRoute(profile, regs, { ttlSeconds: 3600 }, inputs));
    results.routingDecisionMs = decide;
    results.routingInputsMs = gather;
    console.log(`routing decision, 10 candidates, 10k records:  decideRoute ${fmt(decide)}  (target < 1 ms)`);
    console.log(`  store reads feeding it (live counts, p50 per candidate, host health, credits): ${fmt(gather)}`);
    console.log(`  total per create: ${fmt(decide + gather)}`);
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function brokerOverhead(latencyMs: number, n: number): Promise<void> {
  const fake = await startE2bFake({ latencyMs });
  const dir = mkdtempSync(join(tmpdir(), "sbx-bench-e2b-"));
  const env = {
    ...process.env,
    SANDBOXER_HOME: join(dir, "home"),
    SANDBOXER_CONFIG: join(dir, "config.yaml"),
    SANDBOXER_STATE_HUB_URL: "",
    SANDBOXER_HOST: "",
    E2B_API_URL: fake.url,
    E2B_API_KEY: fake.apiKey,
  };
  writeFileSync(env.SANDBOXER_CONFIG, "");
  const { Sandbox } = await import("e2b");
  const broker = createBroker({ env });
  try {
    await broker.addCredits({ account: "default", amount: 1000 });
    const conn = { apiKey: fake.apiKey, apiUrl: fake.url };
    const raw = async () => {
      const sb = await Sandbox.create("base", { ...conn, timeoutMs: 3_600_000, metadata: { sandboxerId: "bench" } });
      await Sandbox.kill(sb.sandboxId, conn);
    };
    const viaBroker = async () => {
      const sb = await broker.create({ profile: "profile.e2b-burst", extension: "ext.e2b" });
      await broker.destroy(sb.id);
    };
    // Warm both paths (SDK import, catalog, prepared statements), then alternate to share any drift.
    for (let i = 0; i < 3; i++) {
      await raw();
      await viaBroker();
    }
    let rawMs = 0;
    let brokerMs = 0;
    for (let i = 0; i < n; i++) {
      let t = performance.now();
      await raw();
      rawMs += performance.now() - t;
      t = performance.now();
      await viaBroker();
      brokerMs += performance.now() - t;
    }
    rawMs /= n;
    brokerMs /= n;
    results[`e2bRawMs_latency${latencyMs}`] = rawMs;
    results[`e2bBrokerMs_latency${latencyMs}`] = brokerMs;
    results[`e2bRatio_latency${latencyMs}`] = brokerMs / rawMs;
    console.log(
      `e2b create+destroy, server latency ${latencyMs} ms, n=${n}: raw SDK ${fmt(rawMs)}, broker ${fmt(brokerMs)}  ratio ${(brokerMs / rawMs).toFixed(3)} (target <= 1.1), overhead ${fmt(brokerMs - rawMs)}`,
    );
  } finally {
    await broker.close();
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await routingDecision();
await brokerOverhead(0, 30);
await brokerOverhead(150, 10);
if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, JSON.stringify(results, null, 2));
