/**
 * ext.modal: the official `modal` 0.x SDK over real gRPC against a local
 * server speaking Modal's control-plane API (test/fakes/modal-server.ts).
 */
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addCredits } from "../src/credits/ledger.js";
import type { SandboxerError } from "../src/errors.js";
import { randomIds } from "../src/ids.js";
import { systemClock } from "../src/types.js";
import { testExtension } from "./extension-contract.js";
import { type ModalFake, startModalFake } from "./fakes/modal-server.js";
import { makeHome, type TestHome } from "./helpers/home.js";

const REQUEST = { profile: "profile.modal-gpu" };

function modalHome(fake: ModalFake, extra: Record<string, string> = {}): TestHome {
  const home = makeHome({ MODAL_SERVER_URL: fake.url, MODAL_TOKEN_ID: fake.tokenId, MODAL_TOKEN_SECRET: fake.tokenSecret, MODAL_CONFIG_PATH: "/nonexistent", ...extra });
  addCredits({ store: home.broker().store, clock: systemClock, ids: randomIds }, "default", 100_000_000);
  return home;
}

let contractFake: ModalFake;
testExtension({
  name: "ext.modal",
  make: async () => {
    contractFake = await startModalFake();
    return { home: modalHome(contractFake), request: REQUEST, cleanup: () => contractFake.close() };
  },
});

describe("ext.modal on Modal's gRPC contract", () => {
  let fake: ModalFake;
  let home: TestHome;

  beforeAll(async () => {
    fake = await startModalFake();
    home = modalHome(fake, { MODAL_REQUEST_TIMEOUT_MS: "1500" });
  });
  afterAll(async () => {
    await home?.cleanup();
    await fake?.close();
  });

  it("create with a GPU, tags and the TTL as Modal's timeout -> get -> destroy; tokens in metadata", async () => {
    const broker = home.broker();
    const sb = await broker.create({ ...REQUEST, inputs: { gpu: "A10G" }, ttl: "2h" });
    expect(sb.state).toBe("ready");
    expect(sb.route?.chosen).toBe("ext.modal");
    const remote = [...fake.sandboxes.values()].find((s) => s.tags.sandboxerId === sb.id);
    expect(remote?.gpu).toMatchObject({ gpuType: "A10G", count: 1 });
    // Modal cannot extend a running sandbox: its timeout is the profile's ttl.max (24h), the record's is the TTL.
    expect(remote?.timeoutSecs).toBe(24 * 3600);
    expect(Date.parse(sb.expiresAt ?? "") - Date.parse(sb.createdAt)).toBe(2 * 3600 * 1000);
    expect(sb.reachability).toMatchObject({ provider: "modal", sandboxId: remote?.id, gpu: "A10G" });
    expect(fake.calls.every((c) => c.tokenId === fake.tokenId)).toBe(true);
    expect(fake.calls.filter((c) => c.method === "SandboxCreate").every((c) => c.authToken)).toBe(true);
    expect(broker.get(sb.id).state).toBe("ready");
    const extended = await broker.extendTtl(sb.id, "3h");
    expect(Date.parse(extended.expiresAt ?? "") - Date.parse(sb.expiresAt ?? "")).toBe(3 * 3600 * 1000);
    expect((await broker.destroy(sb.id)).state).toBe("destroyed");
    expect(remote?.terminated).toBe(true);
  });

  it.each([
    [grpc.status.UNAUTHENTICATED, /credentials rejected \(401\)/],
    [grpc.status.RESOURCE_EXHAUSTED, /rate limited \(429\)/],
    [grpc.status.INTERNAL, /server error \(500\)/],
  ])("vendor answers gRPC status %i at create: clear error, record failed, nothing left remote", async (code, pattern) => {
    const broker = home.broker();
    // Enough failures to outlast the SDK's own retries of transient codes.
    fake.fail("SandboxCreate", { code }, 10);
    const before = [...fake.sandboxes.values()].filter((s) => !s.terminated).length;
    const err = await broker.create(REQUEST).catch((e: unknown) => e);
    fake.clearFaults();
    expect((err as SandboxerError).code).toBe("SBX_PROVISION_FAILED");
    expect((err as Error).message).toMatch(pattern);
    expect((err as Error).message).toMatch(/modal create: /);
    expect(broker.get((err as SandboxerError).details?.id as string).state).toBe("failed");
    expect([...fake.sandboxes.values()].filter((s) => !s.terminated).length).toBe(before);
  });

  it("timeout: the create answer comes too late; teardown finds the sandbox by tag and terminates it", async () => {
    const broker = home.broker();
    fake.fail("SandboxCreate", { slowMs: 4000 });
    const err = await broker.create(REQUEST).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/no answer in time \(timeout\)/);
    const id = (err as SandboxerError).details?.id as string;
    // The late answer's sandbox exists on the server; it must be terminated, not running.
    await new Promise((r) => setTimeout(r, 100));
    expect([...fake.sandboxes.values()].filter((s) => s.tags.sandboxerId === id && !s.terminated)).toEqual([]);
  });

  it("wrong tokens: UNAUTHENTICATED becomes a clear error", async () => {
    const wrong = modalHome(fake, { MODAL_TOKEN_SECRET: "as-wrong" });
    try {
      const err = await wrong.broker().create(REQUEST).catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/credentials rejected \(401\)/);
    } finally {
      await wrong.cleanup();
    }
  });

  it("routing: a GPU profile rejects candidates without the gpu capability", async () => {
    const plan = await home.broker().plan(REQUEST);
    expect(plan.route.chosen).toBe("ext.modal");
    expect(plan.route.estimates?.[0]).toMatchObject({ extension: "ext.modal", pricePerHour: 2 });
  });
});
