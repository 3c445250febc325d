/**
 * Attach mode against a loopback "VM" (real sshd on a non-22 port, reached by
 * an alias in a private ssh_config, as through an ops-bridge tunnel).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Broker } from "../src/broker.js";
import { failure } from "./helpers/assert.js";
import { testExtension } from "./extension-contract.js";
import { type LoopbackVm, startLoopbackVm } from "./fixtures/vm.js";
import { runCli } from "./helpers/cli.js";
import { walkTo } from "./helpers/store.js";

function makeRepo(base: string): string {
  const repo = join(base, "repo");
  mkdirSync(join(repo, "src"), { recursive: true });
  writeFileSync(join(repo, "Main.hs"), 'main = putStrLn "hi"\n');
  writeFileSync(join(repo, "src", "it's a file.txt"), "quoted name\n");
  return repo;
}

let contractVm: LoopbackVm | undefined;
testExtension({
  name: "ext.vm-packer",
  make: async () => {
    contractVm = await startLoopbackVm({ alias: "sbx-contract-vm" });
    const repo = makeRepo(mkdtempSync(join(tmpdir(), "sbx-repo-")));
    return {
      home: contractVm.home,
      request: { profile: "profile.vm-haskell-build", inputs: { vm: contractVm.alias, repo } },
      cleanup: async () => {
        await contractVm?.stop();
        rmSync(join(repo, ".."), { recursive: true, force: true });
      },
    };
  },
});

describe("ext.vm-packer attach mode, VM going away", () => {
  it("VM down: create fails cleanly; destroy of a ready workspace -> destroy_failed, and reconcile keeps the record", async () => {
    const vm = await startLoopbackVm({ alias: "sbx-flaky-vm" });
    const broker = vm.home.broker();
    try {
      const sb = await broker.create({ profile: "profile.vm-haskell-build", inputs: { vm: vm.alias } });
      await vm.sshd.stop();
      const down = await failure(broker.create({ profile: "profile.vm-haskell-build", inputs: { vm: vm.alias } }));
      expect(down.code).toBe("SBX_HOST_UNREACHABLE");
      expect((await broker.get(String(down.details?.id))).state).toBe("failed");
      const report = await broker.reconcile({ deep: true });
      expect((await broker.get(sb.id)).state).toBe("ready");
      expect(report.errors.map((e) => e.id)).toContain(sb.id);
      const err = await failure(broker.destroy(sb.id));
      expect(err.code).toBe("SBX_TEARDOWN_FAILED");
      expect((await broker.get(sb.id)).state).toBe("destroy_failed");
    } finally {
      for (const s of await broker.list({ states: ["destroy_failed", "failed", "ready"] })) await walkTo(vm.home.env, s.id, "destroyed");
      await vm.home.cleanup();
      await vm.stop();
    }
  });
});

describe("ext.vm-packer attach mode", () => {
  let vm: LoopbackVm;
  let broker: Broker;
  let base: string;
  let repo: string;

  beforeAll(async () => {
    vm = await startLoopbackVm();
    broker = vm.home.broker();
    base = mkdtempSync(join(tmpdir(), "sbx-attach-"));
    repo = makeRepo(base);
  });
  afterAll(async () => {
    await vm?.home.cleanup();
    await vm?.stop();
    rmSync(base, { recursive: true, force: true });
  });

  it("creates <root>/<id>/, rsyncs the repo; reachability gives a working ssh command; teardown keeps the root", async () => {
    const sb = await broker.create({ profile: "profile.vm-haskell-build", inputs: { ssh_target: vm.alias, repo } });
    const ws = join(vm.root, sb.id);
    expect(sb.reachability).toMatchObject({ kind: "vm-workspace", vm: vm.alias, port: vm.sshd.port, workspace: ws });
    expect(readFileSync(join(ws, "src", "it's a file.txt"), "utf8")).toBe("quoted name\n");
    const ssh = String(sb.reachability?.ssh);
    expect(ssh).toBe(`ssh -F ${vm.sshd.configFile} -p ${vm.sshd.port} ${vm.alias} 'cd ${ws} && ...'`);
    // The printed command works once "..." is replaced by the build command.
    const out = execFileSync("sh", ["-c", ssh.replace("...", "cat Main.hs")], { encoding: "utf8" });
    expect(out).toBe('main = putStrLn "hi"\n');
    expect(String(sb.reachability?.tunnel)).toContain(`RemoteForward ${vm.sshd.port} localhost:22`);

    const shown = await runCli(["reachability", "show", sb.id], vm.home.env);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(ssh);
    expect(shown.stdout).toContain(`ProxyJump tunnel@ops-bridge.example`);
    const json = (await runCli(["reachability", "show", sb.id, "--json"], vm.home.env)).json<{ id: string; reachability: { workspace: string } }>();
    expect(json).toMatchObject({ id: sb.id, reachability: { workspace: ws } });

    await broker.destroy(sb.id);
    expect(existsSync(ws)).toBe(false);
    expect(existsSync(vm.root)).toBe(true);
  });

  it("snapshot of an attach workspace restores into a new workspace on the VM, marked with the new id", async () => {
    const sb = await broker.create({ profile: "profile.vm-haskell-build", inputs: { vm: vm.alias, repo } });
    writeFileSync(join(vm.root, sb.id, "built.txt"), "from the first build\n");
    const snap = await broker.snapshot(sb.id);
    expect(snap.extension).toBe("ext.vm-packer");
    await broker.destroy(sb.id);
    expect(existsSync(join(vm.root, sb.id))).toBe(false);
    const restored = await broker.restore(snap.id);
    const ws = join(vm.root, restored.id);
    expect(readFileSync(join(ws, "built.txt"), "utf8")).toBe("from the first build\n");
    expect(readFileSync(join(ws, "src", "it's a file.txt"), "utf8")).toBe("quoted name\n");
    expect(readFileSync(join(ws, ".sandboxer-id"), "utf8").trim()).toBe(restored.id);
    await broker.destroy(restored.id);
    expect(existsSync(ws)).toBe(false);
  });

  it("workspace_dir under the root is used (and removed), escaping it is refused", async () => {
    const sb = await broker.create({ profile: "profile.vm-haskell-build", inputs: { vm: vm.alias, workspace_dir: "team/my app" } });
    expect(sb.reachability?.workspace).toBe(join(vm.root, "team", "my app"));
    expect(readFileSync(join(vm.root, "team", "my app", ".sandboxer-id"), "utf8").trim()).toBe(sb.id);
    // The printed command quotes the directory for both shells.
    expect(execFileSync("sh", ["-c", String(sb.reachability?.ssh).replace("...", "pwd")], { encoding: "utf8" }).trim()).toBe(join(vm.root, "team", "my app"));
    await broker.destroy(sb.id);
    expect(existsSync(join(vm.root, "team", "my app"))).toBe(false);

    const out = await failure(broker.create({ profile: "profile.vm-haskell-build", inputs: { vm: vm.alias, workspace_dir: "/etc/sbx" } }));
    expect(out.code).toBe("SBX_INPUT_INVALID");
    expect(out.message).toMatch(/input 'workspace_dir': \/etc\/sbx is outside the VM's workspace root/);
    const climb = await failure(broker.create({ profile: "profile.vm-haskell-build", inputs: { vm: vm.alias, workspace_dir: "../x" } }));
    expect(climb.message).toMatch(/input 'workspace_dir': must not contain '\.\.'/);
    expect(existsSync("/etc/sbx")).toBe(false);
  });

  it("an existing directory is never taken over (nor removed)", async () => {
    mkdirSync(join(vm.root, "precious"));
    writeFileSync(join(vm.root, "precious", "keep"), "x");
    const err = await failure(broker.create({ profile: "profile.vm-haskell-build", inputs: { vm: vm.alias, workspace_dir: "precious" } }));
    expect(err.message).toMatch(/already exists on sbx-test-vm/);
    expect((await broker.get(String(err.details?.id))).state).toBe("failed");
    expect(readFileSync(join(vm.root, "precious", "keep"), "utf8")).toBe("x");
  });

  it("an unknown vm alias is bad input (exit 2), refused at plan time: no record", async () => {
    const err = await failure(broker.create({ profile: "profile.vm-haskell-build", inputs: { vm: "no-such-vm" } }));
    expect(err.code).toBe("SBX_INPUT_INVALID");
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(/input 'vm': 'no-such-vm' is not a host alias/);
    expect(err.details?.id).toBeUndefined();
  });

  it("tunnel_port must be the VM's slot in port-registry.yml", async () => {
    const err = await failure(broker.create({ profile: "profile.vm-haskell-build", inputs: { vm: vm.alias, tunnel_port: "12229" } }));
    expect(err.message).toMatch(/input 'tunnel_port': 12229 is not assigned to any VM slot/);
    const bad = await runCli(["create", "--profile", "profile.vm-haskell-build", "--input", `vm=${vm.alias}`, "--input", "tunnel_port=99999"], vm.home.env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/error \[SBX_INPUT_INVALID\]: input 'tunnel_port': must be <= 65535/);
  });

  it("a missing repo is refused before anything is created on the VM", async () => {
    const err = await failure(broker.create({ profile: "profile.vm-haskell-build", inputs: { vm: vm.alias, repo: join(base, "nope") } }));
    expect(err.message).toMatch(/input 'repo': .*nope is not a directory on this machine/);
    expect(existsSync(join(vm.root, String(err.details?.id)))).toBe(false);
  });

  it("rsync failure (the VM's disk is full): failed record, no partial workspace left", async () => {
    const small = join(base, "small-root");
    mkdirSync(small);
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=512k", "tmpfs", small]);
    } catch {
      return; // no mount privilege here: the fault cannot be staged
    }
    try {
      writeFileSync(vm.registry, readFileSync(vm.registry, "utf8").replace(`workspaceRoot: ${vm.root}`, `workspaceRoot: ${small}`));
      const big = join(base, "big-repo");
      mkdirSync(big);
      writeFileSync(join(big, "blob"), Buffer.alloc(2 * 1024 * 1024, 7));
      const err = await failure(broker.create({ profile: "profile.vm-haskell-build", inputs: { vm: vm.alias, repo: big } }));
      expect(err.code).toBe("SBX_PROVISION_FAILED");
      expect(err.message).toMatch(/rsync to sbx-test-vm:.* failed/);
      expect((await broker.get(String(err.details?.id))).state).toBe("failed");
      expect(existsSync(join(small, String(err.details?.id)))).toBe(false);
    } finally {
      writeFileSync(vm.registry, readFileSync(vm.registry, "utf8").replace(`workspaceRoot: ${small}`, `workspaceRoot: ${vm.root}`));
      execFileSync("umount", [small]);
    }
  });
});
