/**
 * ext.modal: the official `modal` 0.x SDK over real gRPC against a local
 * server speaking Modal's control-plane API (test/fakes/modal-server.ts).
 */
import { existsSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SandboxerError } from "../src/errors.js";
import type { ExecIo } from "../src/extensions/define.js";
import { testExtension } from "./extension-contract.js";
import { testVendor } from "./vendor-contract.js";
import { type ModalFake, startModalFake } from "./fakes/modal-server.js";
import { runCli } from "./helpers/cli.js";
import { makeHome, type TestHome } from "./helpers/home.js";

const REQUEST = { profile: "profile.modal-gpu" };

async function modalHome(fake: ModalFake, extra: Record<string, string> = {}): Promise<TestHome> {
  const home = makeHome({
    MODAL_SERVER_URL: fake.url,
    MODAL_TOKEN_ID: fake.tokenId,
    MODAL_TOKEN_SECRET: fake.tokenSecret,
    MODAL_CONFIG_PATH: "/nonexistent",
    ...extra,
  });
  await home.broker().addCredits({ account: "default", amount: 100 });
  return home;
}

let contractFake: ModalFake;
testExtension({
  name: "ext.modal",
  make: async () => {
    contractFake = await startModalFake();
    return { home: await modalHome(contractFake), request: REQUEST, cleanup: () => contractFake.close() };
  },
});

/** Terminate a sandbox over the wire, as Modal's dashboard or its timeout would. */
async function terminateAtModal(fake: ModalFake, remoteId: string): Promise<void> {
  const { ModalClient } = await import("modal");
  const saved = process.env.MODAL_SERVER_URL;
  process.env.MODAL_SERVER_URL = fake.url;
  const m = new ModalClient({ tokenId: fake.tokenId, tokenSecret: fake.tokenSecret, logLevel: "error" });
  if (saved === undefined) delete process.env.MODAL_SERVER_URL;
  else process.env.MODAL_SERVER_URL = saved;
  try {
    await (await m.sandboxes.fromId(remoteId)).terminate();
  } finally {
    m.close();
  }
  const gone = fake.sandboxes.get(remoteId);
  expect(gone?.terminated).toBe(true);
  const vm = await gone?.vm;
  for (let i = 0; i < 100 && existsSync(vm?.dir ?? "/nonexistent"); i++) await new Promise((r) => setTimeout(r, 20));
  expect(existsSync(vm?.dir ?? "/nonexistent")).toBe(false);
}

const GRPC: Record<401 | 429 | 500, grpc.status> = { 401: grpc.status.UNAUTHENTICATED, 429: grpc.status.RESOURCE_EXHAUSTED, 500: grpc.status.INTERNAL };

testVendor({
  name: "ext.modal",
  vendor: "modal",
  request: REQUEST,
  gone: /no longer running at Modal/,
  start: async () => {
    const fake = await startModalFake();
    return {
      home: (extra = {}) => modalHome(fake, { MODAL_REQUEST_TIMEOUT_MS: "1500", ...extra }),
      // Enough failures to outlast the SDK's own retries of transient codes.
      failCreate: (status) => fake.fail("SandboxCreate", { code: GRPC[status] }, 10),
      slowCreate: (slowMs) => fake.fail("SandboxCreate", { slowMs }),
      clearFaults: () => fake.clearFaults(),
      liveOf: (id) => [...fake.sandboxes.values()].filter((x) => x.tags.sandboxerId === id && !x.terminated),
      killRemote: (remoteId) => terminateAtModal(fake, remoteId),
      wrongCredentials: { MODAL_TOKEN_SECRET: "as-wrong" },
      credentialVar: "MODAL_TOKEN_ID",
      close: () => fake.close(),
    };
  },
});

describe("ext.modal on Modal's gRPC contract", () => {
  let fake: ModalFake;
  let home: TestHome;

  beforeAll(async () => {
    fake = await startModalFake();
    home = await modalHome(fake, { MODAL_REQUEST_TIMEOUT_MS: "1500" });
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
    expect((await broker.get(sb.id)).state).toBe("ready");
    const extended = await broker.extendTtl(sb.id, "3h");
    expect(Date.parse(extended.expiresAt ?? "") - Date.parse(sb.expiresAt ?? "")).toBe(3 * 3600 * 1000);
    expect((await broker.destroy(sb.id)).state).toBe("destroyed");
    expect(remote?.terminated).toBe(true);
  });

  it("routing: a GPU profile rejects candidates without the gpu capability", async () => {
    const plan = await home.broker().plan(REQUEST);
    expect(plan.route.chosen).toBe("ext.modal");
    expect(plan.route.estimates?.[0]).toMatchObject({ extension: "ext.modal", pricePerHour: 2 });
  });
});

describe("ext.modal exec through the task command router", () => {
  const PIPE: ExecIo = { stdin: "ignore", stdout: "pipe", stderr: "pipe" };
  let fake: ModalFake;
  let home: TestHome;
  let id: string;

  beforeAll(async () => {
    fake = await startModalFake();
    home = await modalHome(fake);
    id = (await home.broker().create(REQUEST)).id;
  });
  afterAll(async () => {
    await home?.cleanup();
    await fake?.close();
  });

  it("CLI exec --json: the command's exit code, stdout and stderr apart; argv sent as argv", async () => {
    const r = await runCli(["exec", id, "--json", "--", "sh", "-c", "echo out; echo err >&2; exit 3"], home.env);
    expect(r.code).toBe(3);
    expect(r.json()).toMatchObject({ id, exitCode: 3, stdout: "out\n", stderr: "err\n", truncated: false });
    // Without --json the output passes through to the CLI's own stdout and stderr.
    const plain = await runCli(["exec", id, "--", "sh", "-c", "echo out; echo err >&2; exit 3"], home.env);
    expect(plain).toMatchObject({ code: 3, stdout: "out\n", stderr: "err\n" });
    expect([...fake.execs.values()].at(-1)?.argv).toEqual(["sh", "-c", "echo out; echo err >&2; exit 3"]);
    expect(fake.routerCalls.map((c) => c.method)).toEqual(expect.arrayContaining(["TaskExecStart", "TaskExecStdioRead", "TaskExecStdinWrite", "TaskExecWait"]));
  });

  it("argv with spaces, quotes and shell characters arrives intact, run in the sandbox's workdir", async () => {
    const broker = home.broker();
    const r = await broker.exec(id, ["printf", "%s|", "a b", "it's", '"q"', "$HOME", "*", "; exit 9"], PIPE);
    expect(r).toEqual({ exitCode: 0, stdout: `a b|it's|"q"|$HOME|*|; exit 9|`, stderr: "" });
    expect((await broker.exec(id, ["pwd"], PIPE)).stdout).toBe("/root\n");
    const chunks: string[] = [];
    await broker.exec(id, ["sh", "-c", "echo one; echo two >&2"], PIPE, { onOutput: (which, c) => chunks.push(`${which}:${c}`) });
    expect(chunks.sort()).toEqual(["stderr:two\n", "stdout:one\n"]);
    // stdin is closed: a command reading it ends.
    expect(await broker.exec(id, ["cat"], PIPE)).toMatchObject({ exitCode: 0, stdout: "" });
  });

  it("non-zero exits and signals are the command's", async () => {
    const broker = home.broker();
    expect((await broker.exec(id, ["false"], PIPE)).exitCode).toBe(1);
    expect((await broker.exec(id, ["sh", "-c", "kill -TERM $$"], PIPE)).exitCode).toBe(128 + 15);
  });

  it.each([
    ["TaskGetCommandRouterAccess", grpc.status.INTERNAL, /modal exec: server error \(500\)/],
    ["SandboxGetTaskId", grpc.status.UNAUTHENTICATED, /modal exec: credentials rejected \(401\)/],
  ] as const)("vendor answers %s with gRPC status %i: SBX_EXEC_FAILED naming vendor and cause", async (method, code, pattern) => {
    // Enough failures to outlast the SDK's own retries of transient codes.
    fake.fail(method, { code }, 12);
    const err = await home
      .broker()
      .exec(id, ["true"], PIPE)
      .catch((e: unknown) => e);
    fake.clearFaults();
    expect((err as SandboxerError).code).toBe("SBX_EXEC_FAILED");
    expect((err as Error).message).toMatch(pattern);
  });
});
