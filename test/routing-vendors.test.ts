/**
 * Routing across real vendor SDKs: a route over E2B and Daytona (each SDK
 * against its local wire-contract server) fails over when E2B answers 500.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accountOf } from "./helpers/store.js";
import { type DaytonaFake, startDaytonaFake } from "./fakes/daytona-server.js";
import { type E2bFake, startE2bFake } from "./fakes/e2b-server.js";
import { makeHome, type TestHome } from "./helpers/home.js";

describe("failover from E2B to Daytona", () => {
  let e2b: E2bFake;
  let daytona: DaytonaFake;
  let home: TestHome;

  beforeAll(async () => {
    e2b = await startE2bFake();
    daytona = await startDaytonaFake();
    home = makeHome({ E2B_API_URL: e2b.url, E2B_API_KEY: e2b.apiKey, DAYTONA_API_URL: daytona.url, DAYTONA_API_KEY: daytona.apiKey });
    const dir = join(home.dir, "profiles");
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, "profile.saas-any.yaml"),
      "id: profile.saas-any\nversion: 1\nroute: { strategy: explicit, candidates: [ext.e2b, ext.daytona] }\nttl: { default: 1h, max: 4h }\ntimeout: 30s\n",
    );
    home.env.SANDBOXER_PROFILES_DIR = dir;
    await home.broker().addCredits({ account: "default", amount: 10 });
  });
  afterAll(async () => {
    await home?.cleanup();
    await e2b?.close();
    await daytona?.close();
  });

  it("E2B 500 -> the same record is created on Daytona; the attempt, event and credits follow", async () => {
    const broker = home.broker();
    e2b.fail("create", { status: 500, message: "sandbox_create_failed" });
    const sb = await broker.create({ profile: "profile.saas-any" });
    expect(sb.state).toBe("ready");
    expect(sb.extension).toBe("ext.daytona");
    expect(sb.route?.attempts).toEqual([
      expect.objectContaining({ extension: "ext.e2b", code: "SBX_PROVISION_FAILED", message: expect.stringMatching(/e2b create: server error \(500\)/) }),
    ]);
    expect(sb.cost).toMatchObject({ pricePerHour: 0.3, reserved: 0.3 });
    expect((await accountOf(broker, "default")).reserved).toBeCloseTo(0.3, 6);
    const failover = (await broker.events({ sandboxId: sb.id })).find((e) => e.type === "sandbox.route_failover");
    expect(failover?.data).toMatchObject({ from: "ext.e2b", to: "ext.daytona", code: "SBX_PROVISION_FAILED" });
    expect([...daytona.sandboxes.values()].map((s) => s.labels.sandboxerId)).toContain(sb.id);
    expect(e2b.sandboxes.size).toBe(0);
    await broker.destroy(sb.id);
    expect((await accountOf(broker, "default")).reserved).toBe(0);
  });

  it("both fail: the record is failed with the last error, all attempts recorded, nothing left remote", async () => {
    const broker = home.broker();
    e2b.fail("create", { status: 500 });
    daytona.fail("create", { status: 429 });
    const err = await broker.create({ profile: "profile.saas-any" }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/daytona create: rate limited \(429\)/);
    const id = (err as { details?: { id?: string } }).details?.id as string;
    const rec = await broker.get(id);
    expect(rec.state).toBe("failed");
    expect(rec.route?.attempts?.map((a) => a.extension)).toEqual(["ext.e2b"]);
    expect((await accountOf(broker, "default")).reserved).toBe(0);
    expect(e2b.sandboxes.size + daytona.sandboxes.size).toBe(0);
  });
});
