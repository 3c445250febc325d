import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Env } from "../src/config.js";
import { isSandboxArgv } from "../src/extensions/local/bwrap.js";
import { findProcesses } from "../src/proc.js";
import type { Sandbox } from "../src/types.js";
import { CLI, runCli } from "./helpers/cli.js";
import { testExtension } from "./extension-contract.js";
import { makeHome, type TestHome } from "./helpers/home.js";
import { contextFor } from "../src/broker/internal.js";

testExtension({
  name: "ext.local",
  make: async () => ({ home: makeHome(), request: { profile: "profile.local" } }),
});

describe("ext.local stale detection is per SANDBOXER_HOME", () => {
  let a: TestHome;
  let b: TestHome;
  beforeAll(() => {
    a = makeHome();
    b = makeHome();
  });
  afterAll(async () => {
    await a?.cleanup();
    await b?.cleanup();
  });

  it("lists only the sandboxes of its own home, so reaping one home never touches another", async () => {
    const ba = a.broker();
    const bb = b.broker();
    const sa = await ba.create({ profile: "profile.local" });
    const sb = await bb.create({ profile: "profile.local" });
    const { extension, ctx } = await contextFor(ba, sa.id);
    const ids = (await extension.list?.(ctx))?.map((r) => r.sandboxId) ?? [];
    expect(ids).toContain(sa.id);
    expect(ids).not.toContain(sb.id);
    const report = await ba.reconcile({ deep: true });
    expect(report.orphans.map((o) => o.sandboxId)).not.toContain(sb.id);
  });

  it("ready means set up: an exec right after create always finds the sandbox's root", async () => {
    const ba = a.broker();
    // bwrap names its pid 1 before it has mounted anything; ready used to come that early.
    for (let i = 0; i < 8; i++) {
      const sb = await ba.create({ profile: "profile.local" });
      const r = await ba.exec(sb.id, ["/usr/bin/env", "true"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
      expect(r.exitCode, r.stderr).toBe(0);
      await ba.destroy(sb.id);
    }
  });

  it("exec --service is refused for a sandbox without services, naming the field", async () => {
    const ba = a.broker();
    const sb = await ba.create({ profile: "profile.local" });
    await expect(ba.exec(sb.id, ["true"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" }, { service: "web" })).rejects.toMatchObject({
      code: "SBX_INPUT_INVALID",
      details: { field: "service" },
    });
  });
});

// Most operators are not root. As root we can play one: uid 65534 (nobody), if it can reach the CLI.
const NOBODY = 65534;
const canDropToNobody =
  process.getuid?.() === 0 && spawnSync("setpriv", [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "--", "test", "-x", CLI]).status === 0;

describe.skipIf(!canDropToNobody)("ext.local for an unprivileged operator (uid 65534)", () => {
  let home: TestHome;
  let env: Env;
  const cli = (...args: string[]) => runCli(args, env, { asUid: NOBODY });
  beforeAll(() => {
    home = makeHome();
    const dir = join(home.dir, "nobody");
    chmodSync(home.dir, 0o711); // mkdtemp makes it 0700: let the other user pass through to its own dir
    mkdirSync(dir);
    chownSync(dir, NOBODY, NOBODY);
    env = { ...home.env, HOME: dir, SANDBOXER_HOME: join(dir, "home"), SANDBOXER_CONFIG: join(dir, "config.yaml") };
  });
  afterAll(async () => {
    // The sandboxes are the other user's: destroy them as that user, even when a test failed midway.
    const left = await cli("list", "--json").catch(() => null);
    for (const sb of left?.code === 0 ? left.json<Sandbox[]>() : []) await cli("destroy", sb.id).catch(() => {});
    await home?.cleanup();
  });

  it("creates, execs into and destroys a sandbox: exec joins every namespace without root", async () => {
    const created = await cli("create", "--profile", "profile.local", "--json");
    expect(created.code, created.stderr).toBe(0);
    const sb = created.json<Sandbox>();
    const r = await cli("exec", sb.id, "--json", "--", "sh", "-c", "id -u; hostname; cat /proc/1/cmdline | tr '\\0' ' '; ls /dev; echo err >&2; exit 3");
    const out = r.json<{ exitCode: number; stdout: string; stderr: string }>();
    expect(out.exitCode, out.stderr).toBe(3);
    const [uid, hostname, init] = out.stdout.split("\n");
    expect(uid).toBe(String(NOBODY));
    expect(hostname).toBe(sb.id);
    expect(init).toContain("sleep infinity");
    expect(out.stdout).toContain("null");
    expect(out.stderr).toBe("err\n");
    const destroyed = await cli("destroy", sb.id, "--json");
    expect(destroyed.json<Sandbox>().state).toBe("destroyed");
    expect(findProcesses((argv) => isSandboxArgv(argv, sb.id) !== null)).toEqual([]);
  });
});
