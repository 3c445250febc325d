/**
 * The CLI end to end: `sandboxer tokens`, `sandboxer serve` as a real
 * process on 127.0.0.1, and the other commands run against it through
 * SANDBOXER_URL + SANDBOXER_TOKEN (remote mode).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Env } from "../src/config.js";
import type { Sandbox } from "../src/types.js";
import { type CliResult, runCli } from "./helpers/cli.js";
import { makeHome, type TestHome } from "./helpers/home.js";

const ROOT = join(import.meta.dirname, "..");
// A private build: dist/ may be rebuilt by other test runs at any moment.
const OUT = join(ROOT, `.api-dist-${process.pid}`);
const CLI = join(OUT, "cli.js");

function run(args: string[], env: Env, timeoutMs = 60_000): Promise<CliResult> {
  return runCli(args, env, { cli: CLI, timeoutMs });
}

let home: TestHome;
let server: ChildProcess | undefined;
let serverExit: Promise<number | null>;
let url = "";
let admToken = "";
let agtToken = "";
let agtTokenId = "";
const remote = (token: string): Env => ({ ...home.env, SANDBOXER_URL: url, SANDBOXER_TOKEN: token });

beforeAll(async () => {
  await build({
    entryPoints: { cli: join(ROOT, "src/cli/main.ts") },
    outdir: OUT,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    external: ["better-sqlite3", "e2b", "@daytonaio/sdk", "modal"],
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: "warning",
  });
  home = makeHome();
  server = spawn(process.execPath, [CLI, "serve", "--port", "0", "--json", "--reaper-interval", "1"], {
    env: home.env as NodeJS.ProcessEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  serverExit = new Promise((r) => server?.on("exit", (code) => r(code)));
  const first = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: server?.stdout as NodeJS.ReadableStream });
    rl.once("line", resolve);
    server?.once("exit", (code) => reject(new Error(`serve exited ${code}`)));
  });
  url = (JSON.parse(first) as { url: string }).url;
});

afterAll(async () => {
  if (server && server.exitCode === null) {
    server.kill("SIGTERM");
    await serverExit;
  }
  await home?.cleanup();
  rmSync(OUT, { recursive: true, force: true });
});

describe("sandboxer tokens", () => {
  it("creates tokens (shown once), lists them without secrets", async () => {
    const adm = await run(["tokens", "create", "--actor", "adm", "--json"], home.env);
    expect(adm.code, adm.stderr).toBe(0);
    admToken = adm.json<{ token: string }>().token;
    const agt = await run(["tokens", "create", "--actor", "agt", "--project", "p1", "--name", "ci runner", "--json"], home.env);
    const info = agt.json<{ token: string; tokenId: string; project: string }>();
    agtToken = info.token;
    agtTokenId = info.tokenId;
    expect(info.project).toBe("p1");
    const list = await run(["tokens", "list", "--json"], home.env);
    expect(list.json<unknown[]>()).toHaveLength(2);
    expect(list.stdout).not.toContain(agtToken.replace(/^sbx_tok-[a-z2-7]{12}_/, ""));
  });

  it("rejects bad input with exit 2 naming the field", async () => {
    const noProject = await run(["tokens", "create", "--actor", "agt"], home.env);
    expect(noProject.code).toBe(2);
    expect(noProject.stderr).toContain("project");
    const badActor = await run(["tokens", "create", "--actor", "root", "--json"], home.env);
    expect(badActor.code).toBe(2);
    expect(JSON.parse(badActor.stderr)).toMatchObject({ error: { code: "SBX_USAGE" } });
  });
});

describe("--idempotency-key on the local CLI", () => {
  it("a retry returns the same sandbox; another body under the key exits 4", async () => {
    const args = ["create", "--profile", "profile.local", "--idempotency-key", "local-1", "--json"];
    const a = await run(args, home.env);
    expect(a.code, a.stderr).toBe(0);
    const b = await run(args, home.env);
    expect(b.json<Sandbox>().id).toBe(a.json<Sandbox>().id);
    const c = await run(["create", "--profile", "profile.local", "--ttl", "9m", "--idempotency-key", "local-1", "--json"], home.env);
    expect(c.code).toBe(4);
    expect(JSON.parse(c.stderr).error.code).toBe("SBX_IDEMPOTENCY_CONFLICT");
    expect((await run(["destroy", a.json<Sandbox>().id], home.env)).code).toBe(0);
  });

  it("two processes racing on one key: both answer the one sandbox once it is ready; a failed one answers its error", async () => {
    expect((await run(["credits", "add", "5"], home.env)).code).toBe(0);
    // The stub takes 1.5 s to be ready, so the loser finds the winner's record still provisioning.
    const slow = { ...home.env, SANDBOXER_SAAS_STUB_DELAY_MS: "1500" };
    const args = ["create", "--profile", "profile.saas-stub", "--idempotency-key", "race-1", "--json"];
    const [a, b] = await Promise.all([run(args, slow), run(args, slow)]);
    expect([a.code, b.code], `${a.stderr}${b.stderr}`).toEqual([0, 0]);
    expect(b.json<Sandbox>().id).toBe(a.json<Sandbox>().id);
    expect([a.json<Sandbox>().state, b.json<Sandbox>().state]).toEqual(["ready", "ready"]);
    expect((await run(["destroy", a.json<Sandbox>().id], home.env)).code).toBe(0);

    const failing = ["create", "--profile", "profile.saas-stub", "--idempotency-key", "race-2", "--json"];
    const first = await run(failing, { ...home.env, SANDBOXER_SAAS_STUB_FAIL: "provision" });
    expect(first.code).toBe(1);
    const retry = await run(failing, home.env);
    expect(retry.code).toBe(1);
    expect(JSON.parse(retry.stderr).error).toMatchObject({ code: "SBX_PROVISION_FAILED", message: expect.stringContaining("injected provision failure") });
  });
});

describe("the CLI against a remote server (SANDBOXER_URL)", () => {
  // One sandbox shared by the steps below, each a test of its own (every CLI run is a process start).
  let sb: Sandbox;
  const SLOW = 180_000;

  it("create is idempotent by --idempotency-key; another body exits 4", { timeout: SLOW }, async () => {
    const args = ["create", "--profile", "profile.local", "--idempotency-key", "cli-1", "--json"];
    const a = await run(args, remote(agtToken));
    expect(a.code, a.stderr).toBe(0);
    sb = a.json<Sandbox>();
    expect(sb).toMatchObject({ state: "ready", project: "p1", actor: "agt" });
    expect((await run(args, remote(agtToken))).json<Sandbox>().id).toBe(sb.id);
    const conflict = await run(["create", "--profile", "profile.local", "--ttl", "5m", "--idempotency-key", "cli-1"], remote(agtToken));
    expect(conflict.code).toBe(4);
    expect(conflict.stderr).toContain("SBX_IDEMPOTENCY_CONFLICT");
  });

  it("get, list, exec, events, extend-ttl, hosts, profiles", { timeout: SLOW }, async () => {
    expect((await run(["get", sb.id, "--json"], remote(agtToken))).json<Sandbox>().id).toBe(sb.id);
    expect((await run(["list", "--json"], remote(agtToken))).json<Sandbox[]>().map((x) => x.id)).toEqual([sb.id]);
    expect((await run(["list"], remote(agtToken))).stdout).toContain(sb.id);
    const ex = await run(["exec", sb.id, "--", "sh", "-c", "echo hello; exit 5"], remote(agtToken));
    expect(ex.code).toBe(5);
    expect(ex.stdout).toBe("hello\n");
    const ev = await run(["events", sb.id, "--json"], remote(agtToken));
    expect(ev.json<{ type: string }[]>().map((e) => e.type)).toContain("sandbox.ready");
    expect((await run(["extend-ttl", sb.id, "--duration", "10m", "--json"], remote(agtToken))).code).toBe(0);
    expect((await run(["hosts", "list", "--json"], remote(agtToken))).code).toBe(0);
    expect((await run(["profiles", "list", "--json"], remote(agtToken))).code).toBe(0);
  });

  it("snapshot, snapshots list/get/delete, restore", { timeout: SLOW }, async () => {
    const snap = await run(["snapshot", sb.id, "--name", "remote", "--json"], remote(agtToken));
    expect(snap.code, snap.stderr).toBe(0);
    const snapId = snap.json<{ id: string }>().id;
    expect((await run(["snapshots", "list", "--json"], remote(agtToken))).json<{ id: string }[]>().map((x) => x.id)).toEqual([snapId]);
    expect((await run(["snapshots", "get", snapId], remote(agtToken))).stdout).toContain("(on the server)");
    const restored = await run(["restore", snapId, "--json"], remote(agtToken));
    expect(restored.json<Sandbox>()).toMatchObject({ state: "ready", project: "p1" });
    expect((await run(["destroy", restored.json<Sandbox>().id], remote(agtToken))).code).toBe(0);
    expect((await run(["snapshots", "delete", snapId], remote(agtToken))).code).toBe(0);
  });

  it("route explain and credits", { timeout: SLOW }, async () => {
    const explain = await run(["route", "explain", "--profile", "profile.local", "--json"], remote(agtToken));
    expect(explain.code, explain.stderr).toBe(0);
    expect(explain.json()).toMatchObject({ chosen: "ext.local", project: "p1" });
    expect((await run(["credits", "add", "10", "--project", "p1", "--json"], remote(admToken))).json()).toMatchObject({ account: "p1", balance: 10 });
    expect((await run(["credits", "show", "--json"], remote(agtToken))).json()).toMatchObject({ account: "p1", balance: 10 });
    expect((await run(["credits", "history"], remote(agtToken))).stdout).toContain("add");
    expect((await run(["credits", "add", "10"], remote(agtToken))).code).toBe(4);
  });

  it("destroy", { timeout: SLOW }, async () => {
    const d = await run(["destroy", sb.id, "--json"], remote(agtToken));
    expect(d.json<Sandbox>().state).toBe("destroyed");
  });

  it("not found, other projects, no token, a revoked token", { timeout: SLOW }, async () => {
    const missing = await run(["get", "sbx-aaaaaaaaaaaa"], remote(agtToken));
    expect(missing.code).toBe(3);
    const theirs = (await run(["create", "--profile", "profile.local", "--project", "p9", "--json"], remote(admToken))).json<Sandbox>();
    const hidden = await run(["get", theirs.id], remote(agtToken));
    expect(hidden.code).toBe(3);
    expect((await run(["destroy", theirs.id], remote(admToken))).code).toBe(0);
    const none = await run(["list", "--json"], { ...home.env, SANDBOXER_URL: url, SANDBOXER_TOKEN: "" });
    expect(none.code).toBe(4);
    expect(JSON.parse(none.stderr).error.code).toBe("SBX_UNAUTHORIZED");
    expect((await run(["tokens", "revoke", agtTokenId], home.env)).code).toBe(0);
    const revoked = await run(["list"], remote(agtToken));
    expect(revoked.code).toBe(4);
    expect(revoked.stderr).toContain("revoked");
  });

  it("a server that is not there is a clear error", async () => {
    const r = await run(["list"], { ...home.env, SANDBOXER_URL: "http://127.0.0.1:9", SANDBOXER_TOKEN: admToken });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("SBX_HOST_UNREACHABLE");
  });
});

describe("sandboxer serve", () => {
  it("runs the TTL reaper: an expired sandbox is destroyed with reason ttl", async () => {
    const sb = (await run(["create", "--profile", "profile.local", "--ttl", "1s", "--json"], remote(admToken))).json<Sandbox>();
    const local = home.broker();
    let cur = sb;
    for (let i = 0; i < 600 && cur.state !== "destroyed"; i++) {
      await new Promise((r) => setTimeout(r, 100));
      cur = await local.get(sb.id);
    }
    expect(cur).toMatchObject({ state: "destroyed", reason: "ttl" });
  });

  it("refuses bad flags with exit 2", async () => {
    const r = await run(["serve", "--port", "99999"], home.env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--port");
  });

  it("stops cleanly on SIGTERM", async () => {
    server?.kill("SIGTERM");
    expect(await serverExit).toBe(0);
  });
});
