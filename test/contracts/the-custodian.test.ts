/**
 * the-custodian's operators run `make remote-build` (integrations/custodian/
 * remote-build.mk) as docs/integrations/the-custodian.md says: attach mode on
 * a build VM (here a loopback sshd under an alias, its port a slot of
 * port-registry.yml standing in for an ops-bridge tunnel). The build runs in
 * the sandbox's `remote_dir`, the record says how it was reached (and gives
 * ops-bridge's tunnel snippet), and nothing is left on the VM afterwards.
 * Build mode (`MODE=build`): the same shim runs a Packer build through
 * profile.vm-packer-build (Debian's real packer, a null + file builder),
 * prints the artifacts, and closes the record while the image stays.
 */
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorBody, RemoteReachability, SandboxRecord } from "../../src/api/schemas.js";
import { type LoopbackVm, startLoopbackVm } from "../fixtures/vm.js";
import { CLI, runCli } from "../helpers/cli.js";
import { recordExample } from "./examples.js";

const MK = join(import.meta.dirname, "..", "..", "integrations", "custodian", "remote-build.mk");

interface MakeResult {
  code: number;
  stdout: string;
  stderr: string;
}

let vm: LoopbackVm;
let project: string;
let template: string;

/** `make remote-build VAR=...` as an operator types it (async: the worker's RPC must not stall). */
function remoteBuild(vars: Record<string, string>): Promise<MakeResult> {
  const args = ["--no-print-directory", "-f", MK, "remote-build", `SANDBOXER=${CLI}`, ...Object.entries(vars).map(([k, v]) => `${k}=${v}`)];
  return promisify(execFile)("make", args, { encoding: "utf8", timeout: 240_000, env: { ...(vm.home.env as NodeJS.ProcessEnv), SANDBOXER_URL: "" } }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (err: { code?: number; stdout?: string; stderr?: string }) => ({
      code: typeof err.code === "number" ? err.code : 1,
      stdout: err.stdout ?? "",
      stderr: err.stderr ?? "",
    }),
  );
}

beforeAll(async () => {
  vm = await startLoopbackVm({ alias: "sbx-custodian-vm" });
  project = join(vm.home.dir, "app");
  mkdirSync(project);
  writeFileSync(join(project, "Makefile"), 'build:\n\t@echo "built in $$(pwd)" && echo ok > build-output.txt\n');
  template = join(vm.home.dir, "image");
  cpSync(join(import.meta.dirname, "..", "fixtures", "packer", "ok"), template, { recursive: true });
});

afterAll(async () => {
  await vm?.home.cleanup();
  await vm?.stop();
});

describe("the-custodian: make remote-build (attach mode)", { timeout: 300_000 }, () => {
  it("builds in the sandbox's remote_dir; KEEP=1 keeps it for a look, the record says how it was reached", async () => {
    const r = await remoteBuild({ PROJECT: "app", REPO: project, VM: vm.alias, BUILD_CMD: "make build", KEEP: "1" });
    expect(r.code, r.stderr).toBe(0);
    const id = /remote-build: kept (sbx-[a-z2-7]{12})/.exec(r.stderr)?.[1] as string;
    expect(id).toBeDefined();
    const got = await runCli(["get", id, "--json"], vm.home.env);
    const sb = SandboxRecord.parse(got.json());
    expect([sb.state, sb.extension, sb.mode, sb.actor, sb.project]).toEqual(["ready", "ext.vm-packer", "attach", "atm", "app"]);
    const reach = RemoteReachability.parse(sb.reachability);
    expect(reach.remote_dir).toBe(join(vm.root, id));
    expect(r.stdout).toBe(`built in ${reach.remote_dir}\n`);
    expect(readFileSync(join(reach.remote_dir, "build-output.txt"), "utf8")).toBe("ok\n");
    // Reached through the VM's tunnel slot: ssh_target's port is the registry's port; ops-bridge's snippet comes with it.
    expect(reach.ssh_target).toMatchObject({ host: "127.0.0.1", port: vm.sshd.port, alias: vm.alias });
    expect(sb.reachability?.tunnel).toMatch(new RegExp(`RemoteForward ${vm.sshd.port} localhost:22`));
    recordExample("the-custodian-attach", sb);
    const { kind, vm: name, port, tunnel } = sb.reachability as Record<string, unknown>;
    recordExample("ops-bridge-tunnel", { kind, vm: name, port, tunnel });

    const destroyed = await runCli(["destroy", id, "--json"], vm.home.env);
    expect(destroyed.code).toBe(0);
    expect(existsSync(reach.remote_dir)).toBe(false);
  });

  it("without KEEP the workspace is removed after the build, and a failing BUILD_CMD fails make and still removes it", async () => {
    const ok = await remoteBuild({ PROJECT: "app", REPO: project, VM: vm.alias, BUILD_CMD: "make build" });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/remote-build: destroyed sbx-/);
    const bad = await remoteBuild({ PROJECT: "app", REPO: project, VM: vm.alias, BUILD_CMD: "false" });
    expect(bad.code).not.toBe(0);
    expect(readdirSync(vm.root)).toEqual([]);
    const all = (await runCli(["list", "--all", "--json"], vm.home.env)).json<{ state: string; reason: string }[]>();
    expect(all.every((s) => s.state === "destroyed" && s.reason === "user")).toBe(true);
  });

  it("an unknown VM alias is refused before anything is made, naming the input", async () => {
    const r = await remoteBuild({ PROJECT: "app", REPO: project, VM: "no-such-vm", BUILD_CMD: "true" });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/SBX_INPUT_INVALID.*'?vm'?|input 'vm'/);
    expect(readdirSync(vm.root)).toEqual([]);
  });
});

describe("the-custodian: make remote-build MODE=build (a Packer build through the shim)", { timeout: 300_000 }, () => {
  const records = async () => (await runCli(["list", "--all", "--json"], vm.home.env)).json<{ id: string; state: string; reason: string | null }[]>();

  it("runs the build, prints the artifacts; KEEP=1 keeps the record, destroy closes it and the image stays", async () => {
    const r = await remoteBuild({ MODE: "build", PROJECT: "img", TEMPLATE: template, VM_NAME: "cust", PACKER_VARS: "greeting=from-custodian", KEEP: "1" });
    expect(r.code, r.stderr).toBe(0);
    const image = join(template, "out", "cust.img");
    expect(r.stdout).toContain(`remote-build: artifact file.image: ${image}`);
    const id = /remote-build: kept record (sbx-[a-z2-7]{12})/.exec(r.stderr)?.[1] as string;
    expect(id, r.stderr).toBeDefined();
    const sb = SandboxRecord.parse((await runCli(["get", id, "--json"], vm.home.env)).json());
    expect([sb.state, sb.extension, sb.mode, sb.actor, sb.project]).toEqual(["ready", "ext.vm-packer", "build", "atm", "img"]);
    const artifacts = sb.reachability?.artifacts as { builderId: string; files: string[] }[];
    expect(artifacts.find((a) => a.builderId === "packer.file")?.files).toEqual([image]);
    // A packer_var value is the operator's business: it is never on the record.
    expect(JSON.stringify(sb)).not.toContain("from-custodian");
    recordExample("the-custodian-build", sb);

    expect((await runCli(["destroy", id, "--json"], vm.home.env)).code).toBe(0);
    expect(readFileSync(image, "utf8")).toBe("image of cust");
  });

  it("without KEEP the record is closed after the build (reason user) and the image kept", async () => {
    const before = new Set((await records()).map((s) => s.id));
    const r = await remoteBuild({ MODE: "build", PROJECT: "img", TEMPLATE: template, VM_NAME: "cust2" });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/remote-build: build sbx-[a-z2-7]{12} done; record closed, image kept/);
    const made = (await records()).filter((s) => !before.has(s.id));
    expect(made.map((s) => [s.state, s.reason])).toEqual([["destroyed", "user"]]);
    expect(existsSync(join(template, "out", "cust2.img"))).toBe(true);
  });

  it("bad input is refused before anything is built or recorded: no TEMPLATE, a PACKER_VARS word that is not NAME=VALUE, an undeclared variable", async () => {
    const before = (await records()).length;
    const noTemplate = await remoteBuild({ MODE: "build", PROJECT: "img" });
    expect(noTemplate.code).toBe(2);
    expect(noTemplate.stderr).toMatch(/MODE=build needs TEMPLATE=/);
    const badWord = await remoteBuild({ MODE: "build", PROJECT: "img", TEMPLATE: template, PACKER_VARS: "nonsense" });
    expect(badWord.code).toBe(2);
    expect(badWord.stderr).toMatch(/PACKER_VARS word 'nonsense' is not NAME=VALUE/);
    const undeclared = await remoteBuild({ MODE: "build", PROJECT: "img", TEMPLATE: template, PACKER_VARS: "nope=1" });
    expect(undeclared.code).toBe(2);
    // The CLI's --json error, after the shim's own line.
    const err = ErrorBody.parse(JSON.parse(undeclared.stderr.slice(undeclared.stderr.indexOf("{"), undeclared.stderr.lastIndexOf("}") + 1)));
    expect([err.error.code, err.error.message]).toEqual(["SBX_INPUT_INVALID", expect.stringMatching(/^input 'packer_var_nope'/)]);
    expect(await records()).toHaveLength(before);
  });
});
