/**
 * ext.e2b: the official `e2b` SDK against a local server speaking E2B's
 * published wire contract (test/fakes/e2b-server.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addCredits, getAccount } from "../src/credits/ledger.js";
import { SandboxerError } from "../src/errors.js";
import { randomIds } from "../src/ids.js";
import { systemClock } from "../src/types.js";
import { testExtension } from "./extension-contract.js";
import { type E2bFake, startE2bFake } from "./fakes/e2b-server.js";
import { makeHome, type TestHome } from "./helpers/home.js";

const REQUEST = { profile: "profile.e2b-burst", extension: "ext.e2b" };

function fund(home: TestHome, credits = 100): void {
  const b = home.broker();
  addCredits({ store: b.store, clock: systemClock, ids: randomIds }, "default", credits * 1_000_000);
}

let contractFake: E2bFake;
testExtension({
  name: "ext.e2b",
  make: async () => {
    contractFake = await startE2bFake();
    const home = makeHome({ E2B_API_URL: contractFake.url, E2B_API_KEY: contractFake.apiKey });
    fund(home);
    return { home, request: REQUEST, cleanup: () => contractFake.close() };
  },
});

describe("ext.e2b on the E2B wire contract", () => {
  let fake: E2bFake;
  let home: TestHome;

  beforeAll(async () => {
    fake = await startE2bFake();
    home = makeHome({ E2B_API_URL: fake.url, E2B_API_KEY: fake.apiKey, E2B_REQUEST_TIMEOUT_MS: "1500" });
    fund(home);
  });
  afterAll(async () => {
    await home?.cleanup();
    await fake?.close();
  });

  it("create -> get -> extend-ttl -> destroy, with metadata, the API key header and credits", async () => {
    const broker = home.broker();
    const sb = await broker.create({ ...REQUEST, ttl: "30m" });
    expect(sb.state).toBe("ready");
    const remote = [...fake.sandboxes.values()].find((s) => s.metadata.sandboxerId === sb.id);
    expect(remote?.templateID).toBe("base");
    // E2B's own timeout follows the TTL.
    expect(Date.parse(remote?.endAt ?? "") - Date.parse(remote?.startedAt ?? "")).toBe(30 * 60 * 1000);
    expect(sb.reachability).toMatchObject({ provider: "e2b", sandboxId: remote?.sandboxID });
    expect(fake.requests.every((r) => r.apiKey === fake.apiKey)).toBe(true);
    expect(broker.get(sb.id).state).toBe("ready");
    expect(getAccount(broker.store, "default").reserved).toBeCloseTo(0.2, 6);

    const extended = await broker.extendTtl(sb.id, "1h");
    expect(Date.parse(remote?.endAt ?? "")).toBeGreaterThan(Date.now() + 80 * 60 * 1000);
    expect(Math.abs(Date.parse(remote?.endAt ?? "") - Date.parse(extended.expiresAt ?? ""))).toBeLessThan(5000);
    expect(getAccount(broker.store, "default").reserved).toBeCloseTo(0.6, 6);

    const done = await broker.destroy(sb.id);
    expect(done.state).toBe("destroyed");
    expect(fake.sandboxes.has(remote?.sandboxID ?? "")).toBe(false);
    expect(getAccount(broker.store, "default").reserved).toBe(0);
  });

  it.each([
    [401, /credentials rejected \(401\)/],
    [429, /rate limited \(429\)/],
    [500, /server error \(500\)/],
  ])("vendor answers %i at create: clear error, record failed, nothing left remote", async (status, pattern) => {
    const broker = home.broker();
    fake.fail("create", { status });
    const before = fake.sandboxes.size;
    const err = await broker.create(REQUEST).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxerError);
    expect((err as SandboxerError).code).toBe("SBX_PROVISION_FAILED");
    expect((err as Error).message).toMatch(pattern);
    expect((err as Error).message).toMatch(/^sbx-[a-z2-7]{12}: e2b create: /);
    const failed = broker.get((err as SandboxerError).details?.id as string);
    expect(failed.state).toBe("failed");
    expect(failed.destroyedAt).not.toBeNull();
    expect(fake.sandboxes.size).toBe(before);
  });

  it("a wrong API key is a 401 the SDK sends as X-API-Key, not a crash", async () => {
    const wrong = makeHome({ E2B_API_URL: fake.url, E2B_API_KEY: "e2b_wrong" });
    try {
      fund(wrong);
      const err = await wrong.broker().create(REQUEST).catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/credentials rejected \(401\)/);
      expect(fake.requests.some((r) => r.apiKey === "e2b_wrong")).toBe(true);
    } finally {
      await wrong.cleanup();
    }
  });

  it("timeout: the create answer never comes; teardown finds the remote sandbox by metadata and kills it", async () => {
    const broker = home.broker();
    fake.fail("create", { slowMs: 4000 });
    const err = await broker.create(REQUEST).catch((e: unknown) => e);
    expect((err as SandboxerError).code).toBe("SBX_PROVISION_FAILED");
    expect((err as Error).message).toMatch(/no answer in time \(timeout\)/);
    const id = (err as SandboxerError).details?.id as string;
    // The fake made the sandbox before answering late: the metadata sweep must have removed it.
    expect([...fake.sandboxes.values()].filter((s) => s.metadata.sandboxerId === id)).toEqual([]);
    expect(broker.get(id).state).toBe("failed");
  });

  it("a missing API key names the variable", async () => {
    const bare = makeHome({ E2B_API_URL: fake.url, E2B_API_KEY: "" });
    try {
      fund(bare);
      const err = await bare.broker().create(REQUEST).catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/E2B_API_KEY is not set/);
    } finally {
      await bare.cleanup();
    }
  });

  it("burst: ext.local first; E2B when localhost is full", async () => {
    const { writeFileSync } = await import("node:fs");
    writeFileSync(home.env.SANDBOXER_CONFIG as string, "hosts:\n  localhost: { labels: [local], maxSandboxes: 1 }\n");
    const broker = home.broker();
    const a = await broker.create({ profile: "profile.e2b-burst" });
    const b = await broker.create({ profile: "profile.e2b-burst" });
    expect([a.extension, b.extension]).toEqual(["ext.local", "ext.e2b"]);
    expect(b.route?.rejected[0]?.why).toMatch(/localhost full \(1\/1\)/);
    await broker.destroy(a.id);
    await broker.destroy(b.id);
    writeFileSync(home.env.SANDBOXER_CONFIG as string, "");
  });
});
