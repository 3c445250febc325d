/**
 * Issue 18 against a loopback "VM" (real sshd under an alias): the VM's
 * reachability lines work as printed, and attach workspaces do not use up
 * localhost's capacity although their records are placed there.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Sandbox } from "../src/types.js";
import { type LoopbackVm, startLoopbackVm } from "./fixtures/vm.js";
import { runCli } from "./helpers/cli.js";

let vm: LoopbackVm;
beforeAll(async () => {
  // localhost takes one sandbox; the VM's workspaces must not count against it.
  vm = await startLoopbackVm({ alias: "sbx-firsthour-vm", config: { hosts: { localhost: { labels: ["local"], maxSandboxes: 1 } } } });
});
afterAll(async () => {
  await vm?.home.cleanup();
  await vm?.stop();
});

const cli = (...args: string[]) => runCli(args, vm.home.env);

describe("VM attach: reachability and capacity", { timeout: 180_000 }, () => {
  it("the rsync line reaches the VM as the ssh line does, and works as printed", async () => {
    const r = await cli("create", "--profile", "profile.vm-haskell-build", "--input", `vm=${vm.alias}`, "--json");
    expect(r.code, r.stderr).toBe(0);
    const sb = r.json<Sandbox>();
    try {
      const rsync = String(sb.reachability?.rsync);
      expect(rsync).toContain(`-e 'ssh -F ${vm.sshd.configFile} -p ${vm.sshd.port}'`);
      const shown = await cli("reachability", "show", sb.id);
      expect(shown.stdout).toContain(`rsync      ${rsync}`);
      // Run it from a directory with a file: the file lands in the workspace.
      const src = mkdtempSync(join(tmpdir(), "sbx-rsync-"));
      writeFileSync(join(src, "hello.txt"), "hi\n");
      execFileSync("sh", ["-c", rsync], { cwd: src });
      expect(existsSync(join(String(sb.reachability?.workspace), "hello.txt"))).toBe(true);
      rmSync(src, { recursive: true, force: true });
    } finally {
      await cli("destroy", sb.id);
    }
  });

  it("without a tunnel port there is no `port null`; ssh and rsync use the ssh_config's own port", async () => {
    const env = { ...vm.home.env, SANDBOXER_PORT_REGISTRY: join(vm.home.dir, "no-registry.yml") };
    const r = await runCli(["create", "--profile", "profile.vm-haskell-build", "--input", `vm=${vm.alias}`, "--input", "workspace_dir=plain", "--json"], env);
    expect(r.code, r.stderr).toBe(0);
    const sb = r.json<Sandbox>();
    try {
      expect(sb.reachability).not.toHaveProperty("port");
      const shown = await runCli(["reachability", "show", sb.id], env);
      expect(shown.stdout).not.toMatch(/null/);
      expect(String(sb.reachability?.rsync)).toContain(`-e 'ssh -F ${vm.sshd.configFile}'`);
      expect(execFileSync("sh", ["-c", String(sb.reachability?.ssh).replace("...", "pwd")], { encoding: "utf8" }).trim()).toBe(
        String(sb.reachability?.workspace),
      );
    } finally {
      await runCli(["destroy", sb.id], env);
    }
  });

  it("localhost { maxSandboxes: 1 } counts what runs here: a VM workspace placed on localhost does not", async () => {
    const attach = (await cli("create", "--profile", "profile.vm-haskell-build", "--input", `vm=${vm.alias}`, "--json")).json<Sandbox>();
    expect(attach.host).toBe("localhost");
    const local = await cli("create", "--profile", "profile.local", "--json");
    expect(local.code, local.stderr).toBe(0);
    // The cap still holds for what does run here.
    const second = await cli("create", "--profile", "profile.local");
    expect(second.code).toBe(4);
    expect(second.stderr).toMatch(/SBX_NO_CAPACITY.*localhost full \(1\/1\)/);
    for (const id of [attach.id, local.json<Sandbox>().id]) expect((await cli("destroy", id)).code).toBe(0);
  });
});
