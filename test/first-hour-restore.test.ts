/**
 * Issue 18 on a compose host (loopback sshd + podman-compose): restore onto
 * another host picks a fitting profile or names the ones that can, never asks
 * for inputs the snapshot holds; `get` and `reachability show` render the
 * stack's services, ports and urls as tables and lines; an SSH host without an
 * `ssh:` block is shown as reached over SSH.
 */
import { renameSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Sandbox } from "../src/types.js";
import { runCli } from "./helpers/cli.js";
import { type ComposeEnv, startComposeEnv } from "./helpers/compose-env.js";
import { makeHome, type TestHome } from "./helpers/home.js";

let f: ComposeEnv;
let home: TestHome;
beforeAll(async () => {
  f = await startComposeEnv();
  home = makeHome(f.env);
});
afterAll(async () => {
  await home?.cleanup();
  await f?.stop();
});

const cli = (...args: string[]) => runCli(args, home.env, { timeoutMs: 180_000 });

describe("restore onto another host and extension", { timeout: 300_000 }, () => {
  it("names the profiles that can, then restores with no repo (the compose file comes from the snapshot)", async () => {
    const local = (await cli("create", "--profile", "profile.local", "--input", `repo=${f.repo}`, "--json")).json<Sandbox>();
    const snap = (await cli("snapshot", local.id, "--json")).json<{ id: string }>();
    expect((await cli("destroy", local.id)).code).toBe(0);

    const refused = await cli("restore", snap.id, "--host", "sbx-test-host");
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/SBX_HOST_NOT_FOUND.*profile.local, which cannot restore onto sbx-test-host .*--profile one of: .*profile.compose-test/);

    // The repo the snapshot was made from is gone: the restore must not need it.
    const moved = `${f.repo}-moved`;
    renameSync(f.repo, moved);
    try {
      const r = await cli("restore", snap.id, "--profile", "profile.compose-test", "--host", "sbx-test-host", "--json");
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const sb = r.json<Sandbox>();
      expect(sb).toMatchObject({ state: "ready", extension: "ext.compose-ssh", host: "sbx-test-host" });
      expect(f.containersOf(sb.id).length).toBe(2);

      const got = await cli("get", sb.id);
      expect(got.stdout).not.toMatch(/[{}]/);
      expect(got.stdout).toMatch(/^ {2}services\n {4}SERVICE\s+CONTAINER\s+STATE\s+HEALTH\n/m);
      expect(got.stdout).toMatch(/^ {4}web\s+\S+\s+running\s+healthy$/m);
      expect(got.stdout).toMatch(/^ {4}SERVICE\s+CONTAINER PORT\s+HOST PORT\s+HOST IP\s+PROTOCOL$/m);
      expect(got.stdout).toMatch(/^ {2}urls\s+http:\/\/127\.0\.0\.1:\d+$/m);
      const shown = await cli("reachability", "show", sb.id);
      expect(shown.stdout).not.toMatch(/[{}]/);
      expect(shown.stdout).toMatch(/^ {4}worker\s+\S+\s+running\s+-$/m);
      expect((await cli("destroy", sb.id)).code).toBe(0);
    } finally {
      renameSync(moved, f.repo);
    }
  });

  it("a compose snapshot restores onto the other host with its own profile and no inputs", async () => {
    const first = (await cli("create", "--profile", "profile.compose-test", "--input", `repo=${f.repo}`, "--host", "sbx-test-host", "--json")).json<Sandbox>();
    const snap = (await cli("snapshot", first.id, "--json")).json<{ id: string }>();
    expect((await cli("destroy", first.id)).code).toBe(0);
    const r = await cli("restore", snap.id, "--host", "sbx-test-host2", "--json");
    expect(r.stderr).toBe("");
    const sb = r.json<Sandbox>();
    expect(sb).toMatchObject({ state: "ready", profile: "profile.compose-test", host: "sbx-test-host2" });
    expect((await cli("destroy", sb.id)).code).toBe(0);
  });
});

describe("SSH hosts in the human output", { timeout: 180_000 }, () => {
  it("hosts list: an inventory host without `ssh:` is reached over SSH by its alias", async () => {
    const r = await cli("hosts", "list");
    expect(r.stdout).toMatch(
      new RegExp(
        `^sbx-test-host\\s+ssh sbx-test-host \\(ssh_config alias\\)\\s+podman-compose\\s+${f.workspaceRoot("sbx-test-host").replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\s+-\\s+compose$`,
        "m",
      ),
    );
    expect(r.stdout).not.toMatch(/\(local\)/);
  });

  it("the SSH canary prints its facts once", async () => {
    const sb = (await cli("create", "--host", "sbx-test-host", "--json")).json<Sandbox>();
    try {
      expect(sb.reachability).toHaveProperty("facts");
      const got = await cli("get", sb.id);
      expect(got.stdout.match(/kernel/g)).toHaveLength(1);
      expect(got.stdout).toMatch(/^ {2}host facts\n(?: {4}\S+\s+.*\n)*? {4}runtimeOk\s+true$/m);
      expect(got.stdout).not.toMatch(/[{}]/);
    } finally {
      await cli("destroy", sb.id);
    }
  });
});
