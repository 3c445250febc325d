/**
 * ext.e2b: the official `e2b` SDK against a local server speaking E2B's
 * published wire contract (test/fakes/e2b-server.ts).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { accountOf } from "./helpers/store.js";
import type { SandboxerError } from "../src/errors.js";
import { testExtension } from "./extension-contract.js";
import { testVendor } from "./vendor-contract.js";
import { type E2bFake, startE2bFake } from "./fakes/e2b-server.js";
import { runCli } from "./helpers/cli.js";
import { makeHome, type TestHome } from "./helpers/home.js";

const REQUEST = { profile: "profile.e2b-burst", extension: "ext.e2b" };

async function fund(home: TestHome, credits = 100): Promise<void> {
  const b = home.broker();
  await b.addCredits({ account: "default", amount: credits });
}

let contractFake: E2bFake;
testExtension({
  name: "ext.e2b",
  make: async () => {
    contractFake = await startE2bFake();
    const home = makeHome({ E2B_API_URL: contractFake.url, E2B_SANDBOX_URL: contractFake.sandboxUrl, E2B_API_KEY: contractFake.apiKey });
    await fund(home);
    return { home, request: REQUEST, cleanup: () => contractFake.close() };
  },
});

testVendor({
  name: "ext.e2b",
  vendor: "e2b",
  request: REQUEST,
  gone: /^sbx-[a-z2-7]{12}: the E2B sandbox \S+ no longer runs on E2B/,
  start: async () => {
    const fake = await startE2bFake();
    return {
      home: async (extra = {}) => {
        const home = makeHome({ E2B_API_URL: fake.url, E2B_SANDBOX_URL: fake.sandboxUrl, E2B_API_KEY: fake.apiKey, E2B_REQUEST_TIMEOUT_MS: "1500", ...extra });
        await fund(home);
        return home;
      },
      failCreate: (status) => fake.fail("create", { status }),
      slowCreate: (slowMs) => fake.fail("create", { slowMs }),
      liveOf: (id) => [...fake.sandboxes.values()].filter((x) => x.metadata.sandboxerId === id),
      // As E2B would (expiry, dashboard, another client): a DELETE on the control plane.
      killRemote: async (remoteId) => {
        const r = await fetch(`${fake.url}/sandboxes/${remoteId}`, { method: "DELETE", headers: { "X-API-Key": fake.apiKey } });
        expect(r.status).toBe(204);
      },
      wrongCredentials: { E2B_API_KEY: "e2b_wrong" },
      credentialVar: "E2B_API_KEY",
      // The SDK sends the key as X-API-Key.
      sawCredentials: () => fake.requests.some((r) => r.apiKey === "e2b_wrong"),
      close: () => fake.close(),
    };
  },
});

describe("ext.e2b on the E2B wire contract", () => {
  let fake: E2bFake;
  let home: TestHome;

  beforeAll(async () => {
    fake = await startE2bFake();
    home = makeHome({ E2B_API_URL: fake.url, E2B_API_KEY: fake.apiKey, E2B_REQUEST_TIMEOUT_MS: "1500" });
    await fund(home);
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
    expect((await broker.get(sb.id)).state).toBe("ready");
    expect((await accountOf(broker, "default")).reserved).toBeCloseTo(0.2, 6);

    const extended = await broker.extendTtl(sb.id, "1h");
    expect(Date.parse(remote?.endAt ?? "")).toBeGreaterThan(Date.now() + 80 * 60 * 1000);
    expect(Math.abs(Date.parse(remote?.endAt ?? "") - Date.parse(extended.expiresAt ?? ""))).toBeLessThan(5000);
    expect((await accountOf(broker, "default")).reserved).toBeCloseTo(0.6, 6);

    const before = fake.requests.length;
    const done = await broker.destroy(sb.id);
    expect(done.state).toBe("destroyed");
    expect(fake.sandboxes.has(remote?.sandboxID ?? "")).toBe(false);
    // A ready record's create was answered and recorded: one kill, no search by tag (a vendor round trip).
    expect(fake.requests.slice(before).map((r) => `${r.method} ${r.path}`)).toEqual([`DELETE /sandboxes/${remote?.sandboxID}`]);
    expect((await accountOf(broker, "default")).reserved).toBe(0);
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

describe("exec in E2B sandboxes (envd's process.Process/Start, commands really run)", () => {
  let fake: E2bFake;
  let home: TestHome;
  const PIPE = { stdin: "ignore", stdout: "pipe", stderr: "pipe" } as const;

  beforeAll(async () => {
    fake = await startE2bFake();
    home = makeHome({ E2B_API_URL: fake.url, E2B_SANDBOX_URL: fake.sandboxUrl, E2B_API_KEY: fake.apiKey, E2B_REQUEST_TIMEOUT_MS: "5000" });
    await fund(home);
  });
  afterAll(async () => {
    await home?.cleanup();
    await fake?.close();
  });

  /** Kill the remote sandbox as E2B would (expiry, dashboard, another client): a DELETE on the control plane. */
  const killRemote = async (remoteId: string) => {
    const r = await fetch(`${fake.url}/sandboxes/${remoteId}`, { method: "DELETE", headers: { "X-API-Key": fake.apiKey } });
    expect(r.status).toBe(204);
  };
  const remoteOf = (sb: { reachability: unknown }) => String((sb.reachability as { sandboxId: string }).sandboxId);

  it("through the broker: exit code, stdout and stderr of the real command", async () => {
    const broker = home.broker();
    const sb = await broker.create({ ...REQUEST, ttl: "2m" });
    const r = await broker.exec(sb.id, ["sh", "-c", "echo out; echo err >&2; exit 3"], PIPE);
    expect(r).toEqual({ exitCode: 3, stdout: "out\n", stderr: "err\n" });
    // exec's connect keeps E2B's own timeout at the record's expiry (E2B would otherwise raise it to 300 s).
    const remote = fake.sandboxes.get(remoteOf(sb));
    expect(Math.abs(Date.parse(remote?.endAt ?? "") - Date.parse((await broker.get(sb.id)).expiresAt ?? ""))).toBeLessThan(5000);
    const ok = await broker.exec(sb.id, ["sh", "-c", "echo hi > f && cat f && pwd"], PIPE);
    expect(ok.exitCode).toBe(0);
    expect(ok.stdout).toBe("hi\n/home/user\n");
    // Streaming exec (the API's stream: true) sees every chunk as it arrives.
    const chunks: string[] = [];
    await broker.exec(sb.id, ["sh", "-c", "echo one; echo two >&2"], PIPE, { onOutput: (which, c) => chunks.push(`${which}:${c}`) });
    expect(chunks.sort()).toEqual(["stderr:two\n", "stdout:one\n"]);
    // Stdin goes through envd's SendInput, then CloseStdin (test/exec-stdin-vendors.test.ts covers the API and the CLI).
    expect(await broker.exec(sb.id, ["cat"], PIPE, { stdin: Buffer.from("x") })).toMatchObject({ exitCode: 0, stdout: "x" });
    // A timeout ends the command's group (test/files-vendors.test.ts covers files and processes, test/pty-vendors.test.ts terminals).
    expect(await broker.exec(sb.id, ["sleep", "30"], PIPE, { timeoutMs: 500 })).toMatchObject({ exitCode: 124, timedOut: true });
    await broker.destroy(sb.id);
  });

  it("argv with spaces, quotes and shell syntax arrives intact (shellJoin, no concatenation)", async () => {
    const broker = home.broker();
    const sb = await broker.create(REQUEST);
    const r = await broker.exec(sb.id, ["printf", "%s|", "a b", "it's", "$HOME", "x; exit 9", "", '"q"'], PIPE);
    expect(r).toEqual({ exitCode: 0, stdout: `a b|it's|$HOME|x; exit 9||"q"|`, stderr: "" });
    await broker.destroy(sb.id);
  });

  it("through the CLI: --json captures; without it the output passes through and the exit code is the command's", async () => {
    const broker = home.broker();
    const sb = await broker.create(REQUEST);
    const j = await runCli(["exec", sb.id, "--json", "--", "sh", "-c", "echo out; echo err >&2; exit 3"], home.env);
    expect(j.stderr).toBe("");
    expect(j.code).toBe(3);
    expect(j.json()).toMatchObject({ id: sb.id, exitCode: 3, stdout: "out\n", stderr: "err\n", truncated: false });
    const plain = await runCli(["exec", sb.id, "--", "sh", "-c", "echo out; echo err >&2; exit 3"], home.env);
    expect(plain).toMatchObject({ code: 3, stdout: "out\n", stderr: "err\n" });
    await broker.destroy(sb.id);
  });

  it("sandbox killed on E2B's side while the command runs: the stream is cut, SBX_INVALID_STATE, nothing left running", async () => {
    const broker = home.broker();
    const sb = await broker.create(REQUEST);
    const remote = remoteOf(sb);
    const running = broker.exec(sb.id, ["sh", "-c", "echo started; sleep 300"], PIPE).catch((e: unknown) => e);
    try {
      await vi.waitFor(() => expect(fake.running(remote)).toBe(1), { timeout: 20_000, interval: 50 });
      await killRemote(remote);
      const err = await running;
      expect((err as SandboxerError).code).toBe("SBX_INVALID_STATE");
      expect((err as Error).message).toMatch(/no longer runs on E2B/);
      expect(fake.running(remote)).toBe(0);
    } finally {
      if (fake.sandboxes.has(remote)) await killRemote(remote);
      await running;
      await broker.destroy(sb.id);
    }
  });

  it.each([
    [401, /credentials rejected \(401\)/],
    [500, /server error \(500\)/],
  ])("E2B answers %i when exec connects: SBX_EXEC_FAILED naming the cause", async (status, pattern) => {
    const broker = home.broker();
    const sb = await broker.create(REQUEST);
    fake.fail("connect", { status });
    const err = await broker.exec(sb.id, ["true"], PIPE).catch((e: unknown) => e);
    expect((err as SandboxerError).code).toBe("SBX_EXEC_FAILED");
    expect((err as Error).message).toMatch(pattern);
    expect((err as Error).message).toMatch(/e2b exec: /);
    expect((await broker.exec(sb.id, ["true"], PIPE)).exitCode).toBe(0);
    await broker.destroy(sb.id);
  });
});
