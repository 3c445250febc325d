/**
 * ext.daytona: the official `@daytonaio/sdk` against a local server speaking
 * Daytona's published REST contract (test/fakes/daytona-server.ts).
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accountOf } from "./helpers/store.js";
import type { SandboxerError } from "../src/errors.js";
import type { ExecIo } from "../src/extensions/define.js";
import { testExtension } from "./extension-contract.js";
import { testVendor } from "./vendor-contract.js";
import { type DaytonaFake, startDaytonaFake } from "./fakes/daytona-server.js";
import { runCli } from "./helpers/cli.js";
import { makeHome, type TestHome } from "./helpers/home.js";

const REQUEST = { profile: "profile.daytona-test" };

async function daytonaHome(fake: DaytonaFake, extra: Record<string, string> = {}): Promise<TestHome> {
  const home = makeHome({ DAYTONA_API_URL: fake.url, DAYTONA_API_KEY: fake.apiKey, ...extra });
  const dir = join(home.dir, "profiles");
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "profile.daytona-test.yaml"),
    "id: profile.daytona-test\nversion: 1\nextension: ext.daytona\nttl: { default: 30m, max: 4h }\ntimeout: 30s\n",
  );
  home.env.SANDBOXER_PROFILES_DIR = dir;
  const b = home.broker();
  await b.addCredits({ account: "default", amount: 100 });
  return home;
}

let contractFake: DaytonaFake;
testExtension({
  name: "ext.daytona",
  make: async () => {
    contractFake = await startDaytonaFake();
    return { home: await daytonaHome(contractFake), request: REQUEST, cleanup: () => contractFake.close() };
  },
});

testVendor({
  name: "ext.daytona",
  vendor: "daytona",
  request: REQUEST,
  gone: /no longer exists at Daytona/,
  start: async () => {
    const fake = await startDaytonaFake();
    return {
      home: (extra = {}) => daytonaHome(fake, { DAYTONA_REQUEST_TIMEOUT_MS: "1500", DAYTONA_START_TIMEOUT_MS: "2000", ...extra }),
      failCreate: (status) => fake.fail("create", { status }),
      slowCreate: (slowMs) => fake.fail("create", { slowMs }),
      liveOf: (id) => [...fake.sandboxes.values()].filter((x) => x.labels.sandboxerId === id),
      // As Daytona's dashboard would; its toolbox directory goes with it.
      killRemote: async (remoteId) => {
        const gone = fake.sandboxes.get(remoteId);
        const res = await fetch(`${fake.url}/sandbox/${remoteId}`, { method: "DELETE", headers: { authorization: `Bearer ${fake.apiKey}` } });
        expect(res.status).toBe(200);
        const vm = await gone?.toolbox.vm;
        for (let i = 0; i < 100 && existsSync(vm?.dir ?? "/nonexistent"); i++) await new Promise((r) => setTimeout(r, 20));
        expect(existsSync(vm?.dir ?? "/nonexistent")).toBe(false);
      },
      wrongCredentials: { DAYTONA_API_KEY: "dtn_wrong" },
      credentialVar: "DAYTONA_API_KEY",
      sawCredentials: () => fake.requests.some((r) => r.auth === "Bearer dtn_wrong"),
      close: () => fake.close(),
    };
  },
});

describe("ext.daytona on the Daytona wire contract", () => {
  let fake: DaytonaFake;
  let home: TestHome;

  beforeAll(async () => {
    fake = await startDaytonaFake({ startPolls: 3 });
    home = await daytonaHome(fake, { DAYTONA_REQUEST_TIMEOUT_MS: "1500", DAYTONA_START_TIMEOUT_MS: "2000" });
  });
  afterAll(async () => {
    await home?.cleanup();
    await fake?.close();
  });

  it("create (polled until started) -> get -> extend-ttl -> destroy, with labels, Bearer auth and TTL intervals", async () => {
    const broker = home.broker();
    const sb = await broker.create(REQUEST);
    expect(sb.state).toBe("ready");
    const remote = [...fake.sandboxes.values()].find((s) => s.labels.sandboxerId === sb.id);
    expect(remote?.state).toBe("started");
    expect(remote?.autoStopInterval).toBe(30);
    expect(remote?.autoDeleteInterval).toBe(0);
    expect(sb.reachability).toMatchObject({ provider: "daytona", sandboxId: remote?.id, toolboxProxyUrl: `${fake.url}/toolbox` });
    // Polled: more than one GET of the sandbox before it was started.
    expect(fake.requests.filter((r) => r.method === "GET" && r.path === `/sandbox/${remote?.id}`).length).toBeGreaterThanOrEqual(2);
    expect(fake.requests.every((r) => r.auth === `Bearer ${fake.apiKey}`)).toBe(true);
    expect((await broker.get(sb.id)).state).toBe("ready");

    await broker.extendTtl(sb.id, "1h");
    expect(remote?.autoStopInterval).toBeGreaterThanOrEqual(89);
    expect((await accountOf(broker, "default")).reserved).toBeCloseTo(0.3 * 1.5, 6);

    expect((await broker.destroy(sb.id)).state).toBe("destroyed");
    expect(fake.sandboxes.has(remote?.id ?? "")).toBe(false);
    expect((await accountOf(broker, "default")).reserved).toBe(0);
  });

  it("a sandbox that ends in state error fails the create and is deleted", async () => {
    const broker = home.broker();
    fake.fail("create", { startError: "no runner available" });
    const err = await broker.create(REQUEST).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/no runner available/);
    const id = (err as SandboxerError).details?.id as string;
    expect([...fake.sandboxes.values()].filter((s) => s.labels.sandboxerId === id)).toEqual([]);
  });
});

describe("ext.daytona exec through Daytona's toolbox sessions", () => {
  const PIPE: ExecIo = { stdin: "ignore", stdout: "pipe", stderr: "pipe" };
  let fake: DaytonaFake;
  let home: TestHome;
  let id: string;
  const remote = (sandboxerId = id) => [...fake.sandboxes.values()].find((s) => s.labels.sandboxerId === sandboxerId);

  beforeAll(async () => {
    fake = await startDaytonaFake();
    home = await daytonaHome(fake);
    id = (await home.broker().create(REQUEST)).id;
  });
  afterAll(async () => {
    await home?.cleanup();
    await fake?.close();
  });

  it("CLI exec --json: the command's exit code, stdout and stderr apart; the session is deleted after", async () => {
    const r = await runCli(["exec", id, "--json", "--", "sh", "-c", "echo out; echo err >&2; exit 3"], home.env);
    expect(r.code).toBe(3);
    expect(r.json()).toMatchObject({ id, exitCode: 3, stdout: "out\n", stderr: "err\n", truncated: false });
    expect(remote()?.toolbox.sessions.size).toBe(0);
    const paths = fake.requests.filter((q) => q.path.startsWith(`/toolbox/${remote()?.id}/`)).map((q) => `${q.method} ${q.path.split("/process")[1]}`);
    expect(paths).toEqual([
      "POST /session",
      expect.stringMatching(/^POST \/session\/sandboxer-exec-[\w-]+\/exec$/),
      expect.stringMatching(/^DELETE \/session\//),
    ]);
    // Without --json the output passes through to the CLI's own stdout and stderr.
    const plain = await runCli(["exec", id, "--", "sh", "-c", "echo out; echo err >&2; exit 3"], home.env);
    expect(plain).toMatchObject({ code: 3, stdout: "out\n", stderr: "err\n" });
  });

  it("argv with spaces, quotes and shell characters arrives intact, run in the sandbox's workdir", async () => {
    const broker = home.broker();
    const r = await broker.exec(id, ["printf", "%s|", "a b", "it's", '"q"', "$HOME", "*", "; exit 9"], PIPE);
    expect(r).toEqual({ exitCode: 0, stdout: `a b|it's|"q"|$HOME|*|; exit 9|`, stderr: "" });
    expect((await broker.exec(id, ["pwd"], PIPE)).stdout).toBe("/home/daytona\n");
  });

  it("non-zero exits are the command's; argv[0] is a program, never a shell builtin", async () => {
    const broker = home.broker();
    expect((await broker.exec(id, ["false"], PIPE)).exitCode).toBe(1);
    expect((await broker.exec(id, ["sh", "-c", "exit 42"], PIPE)).exitCode).toBe(42);
    const builtin = await broker.exec(id, ["exit", "4"], PIPE);
    expect(builtin.exitCode).toBe(127);
    expect(builtin.stderr).toMatch(/exit/);
  });

  it.each([
    ["session-exec", 500, /daytona exec: server error \(500\)/],
    ["get", 401, /daytona exec: credentials rejected \(401\)/],
  ] as const)("vendor answers %s with %i: SBX_EXEC_FAILED naming vendor and cause", async (op, status, pattern) => {
    fake.fail(op, { status });
    const err = await home
      .broker()
      .exec(id, ["true"], PIPE)
      .catch((e: unknown) => e);
    expect((err as SandboxerError).code).toBe("SBX_EXEC_FAILED");
    expect((err as Error).message).toMatch(pattern);
  });
});
