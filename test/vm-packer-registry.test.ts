import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SandboxerError } from "../src/errors.js";
import { resolveAttach } from "../src/extensions/vm-packer/attach.js";
import { packerVarArgs } from "../src/extensions/vm-packer/build.js";
import { chooseTunnelPort, loadPortRegistry, tunnelSnippet } from "../src/extensions/vm-packer/port-registry.js";

const dir = mkdtempSync(join(tmpdir(), "sbx-reg-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const paths = { configFile: join(dir, "config.yaml") };
function registry(text: string) {
  const file = join(dir, "port-registry.yml");
  writeFileSync(file, text);
  return loadPortRegistry(paths, {});
}

const GOOD = `
bridge: { host: ops-bridge.example, user: tunnel }
slots:
  - { slot: 1, port: 12221, vm: packer-builder }
  - { slot: 2, port: 12222, vm: haskell-build, workspaceRoot: /srv/build }
`;

function err(fn: () => unknown): SandboxerError {
  try {
    fn();
  } catch (e) {
    if (e instanceof SandboxerError) return e;
    throw e;
  }
  throw new Error("expected an error");
}

describe("port registry", () => {
  it("is optional: no file, no tunnel policy", () => {
    expect(loadPortRegistry({ configFile: join(dir, "none", "config.yaml") }, {})).toBeNull();
    expect(chooseTunnelPort(null, "vm", null)).toEqual({ port: null, slot: null });
    expect(chooseTunnelPort(null, "vm", 2222).port).toBe(2222);
  });

  it("chooses the VM's slot port, and checks a given one", () => {
    const reg = registry(GOOD);
    expect(chooseTunnelPort(reg, "haskell-build", null).port).toBe(12222);
    expect(chooseTunnelPort(reg, "haskell-build", 12222).slot?.slot).toBe(2);
    expect(err(() => chooseTunnelPort(reg, "haskell-build", 12221)).message).toMatch(/12221 is slot 1 of VM 'packer-builder', not 'haskell-build'/);
    expect(err(() => chooseTunnelPort(reg, "haskell-build", 12225)).message).toMatch(/12225 is not assigned to any VM slot/);
    expect(err(() => chooseTunnelPort(reg, "haskell-build", 2222)).details?.field).toBe("tunnel_port");
  });

  it("reports every problem in the file with its field", () => {
    const e = err(() => registry("slots:\n  - { slot: 1, port: 13000, vm: a }\n  - { slot: 1, port: 13000, vm: b }\n"));
    expect(e.code).toBe("SBX_CONFIG_INVALID");
    expect(e.message).toMatch(/slots\.0\.port: 13000 is outside the tunnel range 12221-12230/);
    expect(e.message).toMatch(/slots\.1\.slot: slot 1 appears twice/);
    expect(err(() => registry("slots:\n  - { slot: 1, port: 12221, vm: 'Bad Name' }\n")).message).toMatch(/slots\.0\.vm/);
  });

  it("prints the ops-bridge tunnel snippet for a slot", () => {
    const snippet = tunnelSnippet(registry(GOOD), "haskell-build", 12222);
    expect(snippet).toContain("slot 2, tunnel port 12222 -> haskell-build:22");
    expect(snippet).toContain("RemoteForward 12222 localhost:22");
    expect(snippet).toContain("ProxyJump tunnel@ops-bridge.example");
  });
});

describe("attach workspace resolution", () => {
  const ctx = (settings: Record<string, unknown> = {}, env: Record<string, string> = {}) =>
    ({ sandbox: { id: "sbx-abcdefghijkl" }, profile: { settings }, paths: { ...paths, configFile: join(dir, "nocfg", "config.yaml") }, env }) as unknown as Parameters<typeof resolveAttach>[0];

  it("defaults to /build/<id>, the root configurable per profile", () => {
    expect(resolveAttach(ctx(), { vm: "haskell-build" }).workspace).toBe("/build/sbx-abcdefghijkl");
    expect(resolveAttach(ctx({ workspaceRoot: "/data/ws" }), { vm: "haskell-build" }).workspace).toBe("/data/ws/sbx-abcdefghijkl");
  });

  it("keeps workspace_dir strictly under the root", () => {
    expect(resolveAttach(ctx(), { vm: "v", workspace_dir: "app" }).workspace).toBe("/build/app");
    expect(resolveAttach(ctx(), { vm: "v", workspace_dir: "/build/app/" }).workspace).toBe("/build/app");
    for (const bad of ["/build", "/buildx/a", "/etc", "/"]) {
      expect(err(() => resolveAttach(ctx(), { vm: "v", workspace_dir: bad })).details?.field).toBe("workspace_dir");
    }
  });

  it("tunnel_port from the input, then SANDBOXER_VM_TUNNEL_PORT", () => {
    expect(resolveAttach(ctx({}, { SANDBOXER_VM_TUNNEL_PORT: "12222" }), { vm: "v" }).port).toBe(12222);
    expect(resolveAttach(ctx({}, { SANDBOXER_VM_TUNNEL_PORT: "12222" }), { vm: "v", tunnel_port: "2200" }).port).toBe(2200);
    expect(err(() => resolveAttach(ctx({}, { SANDBOXER_VM_TUNNEL_PORT: "abc" }), { vm: "v" })).details?.field).toBe("tunnel_port");
    expect(err(() => resolveAttach(ctx(), {})).code).toBe("SBX_INPUT_MISSING");
  });
});

describe("packer variable arguments", () => {
  it("vm_name first, then the generated var file (packer_var_* values never in argv), the caller's var file last", () => {
    expect(packerVarArgs("hb", "/state/vars.pkrvars.hcl", "/v.hcl")).toEqual(["-var", "vm_name=hb", "-var-file=/state/vars.pkrvars.hcl", "-var-file=/v.hcl"]);
    expect(packerVarArgs(null, null, null)).toEqual([]);
  });
});

describe("SANDBOXER_VM_TUNNEL_PORT with a registry", () => {
  it("the global default yields to the VM's slot; an explicit input is still checked", () => {
    registry(GOOD);
    const c = { sandbox: { id: "sbx-abcdefghijkl" }, profile: { settings: {} }, paths, env: { SANDBOXER_VM_TUNNEL_PORT: "12221" } } as unknown as Parameters<typeof resolveAttach>[0];
    expect(resolveAttach(c, { vm: "haskell-build" }).port).toBe(12222);
    expect(resolveAttach(c, { vm: "haskell-build" }).workspace).toBe("/srv/build/sbx-abcdefghijkl");
    expect(resolveAttach(c, { vm: "packer-builder" }).port).toBe(12221);
    expect(err(() => resolveAttach(c, { vm: "haskell-build", tunnel_port: "12221" })).details?.field).toBe("tunnel_port");
    expect(err(() => resolveAttach(c, { vm: "other-vm" })).message).toMatch(/12221 is slot 1 of VM 'packer-builder'/);
  });
});
