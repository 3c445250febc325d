import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Broker } from "../src/broker.js";
import { testFilesContract } from "./files-contract.js";
import { type LoopbackVm, startLoopbackVm } from "./fixtures/vm.js";
import { makeHome } from "./helpers/home.js";
import { processesIn } from "./helpers/assert.js";

function smallProfile(dir: string): void {
  writeFileSync(
    join(dir, "profile.vm-files-small.yaml"),
    [
      "id: profile.vm-files-small",
      "version: 1",
      "extension: ext.vm-packer",
      "mode: attach",
      "files: { maxUpload: 1MiB }",
      "inputs:",
      "  vm: { type: name }",
      "",
    ].join("\n"),
  );
}

// VM attach workspaces over ssh (a loopback sshd standing in for the VM): everything stays inside the workspace.
let vms: LoopbackVm[] = [];
testFilesContract({
  name: "ext.vm-packer (attach)",
  make: async () => {
    const vm = await startLoopbackVm({ alias: "sbx-files-vm" });
    vms.push(vm);
    smallProfile(vm.home.dir);
    const home = makeHome({ ...vm.home.env, SANDBOXER_PROFILES_DIR: vm.home.dir });
    return {
      home,
      request: { profile: "profile.vm-haskell-build", inputs: { vm: vm.alias } },
      small: { profile: "profile.vm-files-small", inputs: { vm: vm.alias } },
      sameMachine: true,
      cleanup: async () => {
        for (const pid of processesIn(vm.root)) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {}
        }
        await vm.home.cleanup();
        await vm.stop();
      },
    };
  },
});

describe("VM attach: file paths are confined to the sandbox's workspace", () => {
  let vm: LoopbackVm;
  let broker: Broker;
  let id: string;
  let other: string;
  beforeAll(async () => {
    vm = await startLoopbackVm({ alias: "sbx-confine-vm" });
    broker = vm.home.broker();
    id = (await broker.create({ profile: "profile.vm-haskell-build", inputs: { vm: vm.alias } })).id;
    other = (await broker.create({ profile: "profile.vm-haskell-build", inputs: { vm: vm.alias } })).id;
    await broker.writeFile(other, "secret.txt", "other sandbox's");
  }, 120_000);
  afterAll(async () => {
    await vm?.home.cleanup();
    await vm?.stop();
    vms = [];
  });

  it("refuses absolute paths, .., and links that lead out of the workspace (another sandbox's, the VM's /etc)", async () => {
    const sh = (s: string) => broker.exec(id, ["sh", "-c", s], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    await sh(`ln -s ../${other} neighbour && ln -s /etc etc-link && ln -s /etc/passwd pw`);
    for (const p of [`../${other}/secret.txt`, `${vm.root}/${other}/secret.txt`, "neighbour/secret.txt", "etc-link/passwd", "pw", "/etc/passwd"]) {
      await expect(broker.readFile(id, p), p).rejects.toMatchObject({ code: "SBX_INPUT_INVALID" });
    }
    await expect(broker.writeFile(id, "neighbour/planted.txt", "x")).rejects.toMatchObject({ code: "SBX_INPUT_INVALID" });
    await expect(broker.writeFile(id, "pw", "x")).rejects.toMatchObject({ code: "SBX_INPUT_INVALID" });
    await expect(broker.listFiles(id, "etc-link")).rejects.toMatchObject({ code: "SBX_INPUT_INVALID" });
    await expect(broker.deleteFile(id, "neighbour/secret.txt")).rejects.toMatchObject({ code: "SBX_INPUT_INVALID" });
    expect((await broker.readFile(other, "secret.txt")).data.toString()).toBe("other sandbox's");
    // The link itself is the sandbox's: it can be listed, archived and removed.
    expect((await broker.statFile(id, "pw"))?.target).toBe("/etc/passwd");
    await broker.deleteFile(id, "pw");
    expect(await broker.statFile(id, "pw")).toBeNull();
  });
});
