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

  it("reads the documented shape: ports 12221-12230 as VM slots, range and bridge optional", () => {
    const reg = registry(
      "# the-custodian port-registry.yml\nrange: [12221, 12230]\nslots:\n  - { slot: 1, port: 12221, vm: packer-builder }\n  - slot: 10\n    port: 12230\n    vm: win-build\n    description: last slot\n",
    );
    expect(reg?.slots.map((s) => [s.slot, s.port, s.vm])).toEqual([
      [1, 12221, "packer-builder"],
      [10, 12230, "win-build"],
    ]);
    expect(registry("slots: []\n")?.range).toEqual([12221, 12230]);
  });

  it("refuses anything else, naming the line and the field of each problem", () => {
    const file = join(dir, "port-registry.yml");
    const cases: [string, RegExp[]][] = [
      // An unknown top-level key (another tool's shape) and an unknown slot field.
      ["ports:\n  12221: haskell-build\n", [/:1: ports: not a field of port-registry\.yml/]],
      ["slots:\n  - slot: 1\n    port: 12221\n    vm: a\n    host: b\n", [/:5: slots\.0\.host: not a field/]],
      // Wrong types and missing fields.
      ["slots:\n  - { slot: 1, port: '12221', vm: a }\n", [/:2: slots\.0\.port: /]],
      ["slots:\n  - { slot: 1, vm: a }\n", [/:2: slots\.0\.port: /]],
      ["range: [12221]\n", [/:1: range/]],
      ["- 12221\n- 12222\n", [/:1: \(root\): /]],
      // Duplicate keys are a YAML error with their line.
      ["slots: []\nslots: []\n", [/:2: \(yaml\): Map keys must be unique/]],
      // Several problems at once, each at its own line.
      [
        "slots:\n  - { slot: 1, port: 12221, vm: a }\n  - { slot: 1, port: 12221, vm: a }\n  - { slot: 3, port: 13000, vm: c }\n",
        [
          /:3: slots\.1\.port: 12221 is already slot 1/,
          /:3: slots\.1\.slot: slot 1 appears twice/,
          /:3: slots\.1\.vm: VM 'a' already has slot 1/,
          /:4: slots\.2\.port: 13000 is outside the tunnel range 12221-12230/,
        ],
      ],
      ["range: [12230, 12221]\n", [/:1: range: \[12230, 12221\] is empty/]],
    ];
    for (const [text, expected] of cases) {
      const e = err(() => registry(text));
      expect(e.code, text).toBe("SBX_CONFIG_INVALID");
      for (const re of expected) expect(e.message, text).toMatch(re);
      for (const line of e.message.split("\n")) expect(line.startsWith(`${file}:`), line).toBe(true);
    }
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
    ({
      sandbox: { id: "sbx-abcdefghijkl" },
      profile: { settings },
      paths: { ...paths, configFile: join(dir, "nocfg", "config.yaml") },
      env,
    }) as unknown as Parameters<typeof resolveAttach>[0];

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
    const c = { sandbox: { id: "sbx-abcdefghijkl" }, profile: { settings: {} }, paths, env: { SANDBOXER_VM_TUNNEL_PORT: "12221" } } as unknown as Parameters<
      typeof resolveAttach
    >[0];
    expect(resolveAttach(c, { vm: "haskell-build" }).port).toBe(12222);
    expect(resolveAttach(c, { vm: "haskell-build" }).workspace).toBe("/srv/build/sbx-abcdefghijkl");
    expect(resolveAttach(c, { vm: "packer-builder" }).port).toBe(12221);
    expect(err(() => resolveAttach(c, { vm: "haskell-build", tunnel_port: "12221" })).details?.field).toBe("tunnel_port");
    expect(err(() => resolveAttach(c, { vm: "other-vm" })).message).toMatch(/12221 is slot 1 of VM 'packer-builder'/);
  });
});
