/**
 * `sandboxer exec` in attach mode against a loopback "VM" (real sshd): argv
 * runs in the workspace over SSH, arrives unexpanded, and leaves no ssh master.
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Broker } from "../src/broker.js";
import type { ExecIo } from "../src/extensions/define.js";
import { resolvePaths } from "../src/paths.js";
import { controlDir } from "../src/transport/ssh.js";
import { type LoopbackVm, startLoopbackVm } from "./fixtures/vm.js";
import { failure, processesIn } from "./helpers/assert.js";
import { runCli } from "./helpers/cli.js";

const PIPED: ExecIo = { stdin: "ignore", stdout: "pipe", stderr: "pipe" };

function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/** Wait for a condition (a guard against hanging, not a timing assertion). */
async function until(cond: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("ext.vm-packer attach mode: exec", () => {
  let vm: LoopbackVm;
  let broker: Broker;
  let id: string;
  let ws: string;
  /** ssh ControlMaster sockets of this home: none may be left after an exec. */
  const masters = () => {
    const dir = controlDir(resolvePaths(vm.home.env).run);
    return existsSync(dir) ? readdirSync(dir) : [];
  };

  beforeAll(async () => {
    vm = await startLoopbackVm({ alias: "sbx-exec-vm" });
    broker = vm.home.broker();
    const sb = await broker.create({ profile: "profile.vm-haskell-build", inputs: { vm: vm.alias } });
    id = sb.id;
    ws = join(vm.root, id);
  });
  afterAll(async () => {
    // Nothing a test ran on the "VM" may outlive it (a command left running when sshd was cut).
    if (vm) killAll(processesIn(vm.root));
    await vm?.home.cleanup();
    await vm?.stop();
  });

  it("runs argv in the workspace: exit code and output come back, no ssh master is left", async () => {
    const r = await broker.exec(id, ["sh", "-c", "pwd; echo err >&2; exit 3"], PIPED);
    expect(r).toMatchObject({ exitCode: 3, stdout: `${ws}\n`, stderr: "err\n" });
    expect(masters()).toEqual([]);
    // The reachability points at exec now.
    expect((await broker.get(id)).reachability?.exec).toBe(`sandboxer exec ${id} -- CMD...`);
    expect((await broker.extensions()).find((e) => e.id === "ext.vm-packer")?.capabilities.exec).toBe(true);
  });

  it("argv with spaces, quotes, $HOME and ; arrives intact and unexpanded", async () => {
    const r = await broker.exec(id, ["printf", "%s|", "a b", "it's", "$HOME", "x;y", "", "`id`"], PIPED);
    expect(r).toMatchObject({ exitCode: 0, stdout: "a b|it's|$HOME|x;y||`id`|", stderr: "" });
    // A file name with the same characters, created and seen in the workspace.
    const name = `it's a $HOME; file`;
    expect((await broker.exec(id, ["touch", "--", name], PIPED)).exitCode).toBe(0);
    expect(existsSync(join(ws, name))).toBe(true);
  });

  it("a command's own exit 125, 127 and 255 pass through while the workspace and the VM are there", async () => {
    expect((await broker.exec(id, ["sh", "-c", "exit 125"], PIPED)).exitCode).toBe(125);
    // Even when it reads like ssh's own failure (an ssh run on the VM): our connection is fine.
    const nested = await broker.exec(id, ["sh", "-c", "echo 'ssh: connect to host x port 22: Connection refused' >&2; exit 255"], PIPED);
    expect(nested).toMatchObject({ exitCode: 255, stderr: "ssh: connect to host x port 22: Connection refused\n" });
    const missing = await broker.exec(id, ["no-such-command-sbx"], PIPED);
    expect(missing.exitCode).toBe(127);
    expect(missing.stderr).toMatch(/no-such-command-sbx/);
  });

  it("CLI --json: captured output and the command's exit code; without --json stdio passes through", async () => {
    const r = await runCli(["exec", id, "--json", "--", "sh", "-c", "pwd; echo err >&2; exit 3"], vm.home.env);
    expect(r.code).toBe(3);
    expect(r.json()).toEqual({ id, command: ["sh", "-c", "pwd; echo err >&2; exit 3"], exitCode: 3, stdout: `${ws}\n`, stderr: "err\n", truncated: false });
    const plain = await runCli(["exec", id, "--", "sh", "-c", 'cat; printf "%s\\n" "$1"', "sh", "$HOME"], vm.home.env, { input: "from stdin\n" });
    expect(plain).toMatchObject({ code: 0, stdout: "from stdin\n$HOME\n", stderr: "" });
    expect(masters()).toEqual([]);
  });

  it("workspace removed behind our back: a clear error, and reconcile closes the record", async () => {
    const sb = await broker.create({ profile: "profile.vm-haskell-build", inputs: { vm: vm.alias } });
    rmSync(join(vm.root, sb.id), { recursive: true, force: true });
    const err = await failure(broker.exec(sb.id, ["true"], PIPED));
    expect(err.code).toBe("SBX_INVALID_STATE");
    expect(err.message).toBe(
      `workspace ${join(vm.root, sb.id)} is gone on VM sbx-exec-vm (removed outside sand-boxer); run \`sandboxer reconcile\` to close the record`,
    );
    const cli = await runCli(["exec", sb.id, "--", "true"], vm.home.env);
    expect(cli.code).toBe(4);
    expect(cli.stderr).toMatch(/^error \[SBX_INVALID_STATE\]: workspace .* is gone on VM sbx-exec-vm/);
    await broker.reconcile({ deep: true });
    expect((await broker.get(sb.id)).state).toBe("destroyed");
  }, 180_000); // a create, two execs and a deep reconcile: slow on a loaded machine

  it("build mode has nothing to exec into: SBX_UNSUPPORTED", async () => {
    const work = mkdtempSync(join(tmpdir(), "sbx-exec-packer-"));
    try {
      cpSync(join(import.meta.dirname, "fixtures", "packer", "ok"), work, { recursive: true });
      const sb = await broker.create({ profile: "profile.vm-packer-build", inputs: { packer_template: work, vm_name: "exec-test" } });
      const err = await failure(broker.exec(sb.id, ["true"], PIPED));
      expect(err.code).toBe("SBX_UNSUPPORTED");
      expect(err.message).toMatch(/Packer build has no sandbox to run commands in/);
      await broker.destroy(sb.id);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it("the VM down: SBX_HOST_UNREACHABLE; a connection cut mid-command too (piped stderr)", async () => {
    try {
      await vm.sshd.kill();
      const down = await failure(broker.exec(id, ["true"], PIPED));
      expect(down.code).toBe("SBX_HOST_UNREACHABLE");
      expect(masters()).toEqual([]);
    } finally {
      await vm.sshd.restart();
    }
    const started = join(ws, "started");
    const run = broker.exec(id, ["sh", "-c", "touch started; exec sleep 600"], PIPED);
    try {
      await until(() => existsSync(started));
      await vm.sshd.kill();
      const cut = await failure(run);
      expect(cut.code).toBe("SBX_HOST_UNREACHABLE");
      expect(cut.message).toMatch(/^host 'sbx-exec-vm' \(.*\) dropped the connection.*; the command may still be running there/);
    } finally {
      await run.catch(() => undefined);
      killAll(processesIn(ws));
      await vm.sshd.restart();
    }
  });
});
