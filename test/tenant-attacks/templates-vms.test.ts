/**
 * Running code as the server user through Packer, and commands on other
 * machines through `vm`: a tenant writes a template into its workspace and
 * points packer_template at it; names VMs outside the inventory and port
 * registry (localhost included). All refused (400, the input named) before
 * anything runs; a template the operator lists by name builds for the tenant.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Sandbox } from "../../src/types.js";
import { processesIn } from "../helpers/assert.js";
import { type AttackEnv, attackEnv } from "./env.js";

let env: AttackEnv;
let mine: Sandbox;
let evilDir: string;
let marker: string;

beforeAll(async () => {
  env = await attackEnv();
  marker = join(env.dir, "pwned");
  const a = await env.call("POST", "/v1/sandboxes", { token: env.tokens.p1, body: { profile: "profile.local" } });
  expect(a.status, a.text).toBe(201);
  mine = a.body as unknown as Sandbox;
  const evil = `source "null" "x" {\n  communicator = "none"\n}\nbuild {\n  sources = ["source.null.x"]\n  provisioner "shell-local" {\n    inline = ["touch ${marker}"]\n  }\n}\n`;
  const w = await env.call("POST", `/v1/sandboxes/${mine.id}/exec`, {
    token: env.tokens.p1,
    body: { command: ["sh", "-c", 'mkdir -p /workspace/t && printf %s "$1" > /workspace/t/evil.pkr.hcl', "sh", evil] },
  });
  expect(w.body.exitCode, w.text).toBe(0);
  // What the tenant could only guess before: the operator's record names the workspace on the server.
  evilDir = join(String((await env.broker.get(mine.id)).reachability?.workspace), "t");
  expect(existsSync(join(evilDir, "evil.pkr.hcl"))).toBe(true);
}, 120_000);

afterAll(async () => {
  await env?.close();
  expect(existsSync(marker)).toBe(false);
});

describe("packer_template from a tenant", () => {
  it("a path it wrote (file or directory), a path under its root, '~': refused before Packer runs", async () => {
    const before = await env.footprint();
    for (const packer_template of [join(evilDir, "evil.pkr.hcl"), evilDir, join(env.root, "app"), "~/t", "t/evil.pkr.hcl", "nope"]) {
      for (const path of ["/v1/sandboxes", "/v1/plan"]) {
        const r = await env.call("POST", path, { token: env.tokens.p1, body: { profile: "profile.t-build", inputs: { packer_template } } });
        expect(r.status, `${packer_template}: ${r.text}`).toBe(400);
        expect(r.body.error?.message).toContain("input 'packer_template'");
        expect(r.body.error?.message).toContain("name one of the operator's Packer templates (ok, secret)");
      }
    }
    expect(existsSync(marker)).toBe(false);
    expect(processesIn(env.home.dir)).toEqual([]);
    expect(await env.footprint()).toBe(before);
  });

  it("packer_var_file is for operators only", async () => {
    const r = await env.call("POST", "/v1/plan", {
      token: env.tokens.p1,
      body: { profile: "profile.t-build", inputs: { packer_template: "ok", packer_var_file: "app/x.pkrvars.hcl" } },
    });
    expect(r.status).toBe(400);
    expect(r.body.error?.message).toContain("input 'packer_var_file': only operators (adm) may set this input");
  });

  it("a template the operator lists builds for the tenant, recorded by name, without server paths", { timeout: 120_000 }, async () => {
    const r = await env.call("POST", "/v1/sandboxes", {
      token: env.tokens.p1,
      body: { profile: "profile.t-build", inputs: { packer_template: "ok", packer_var_greeting: "hi" } },
    });
    expect(r.status, r.text).toBe(201);
    const sb = r.body as unknown as Sandbox;
    expect(sb.inputs.packer_template).toBe("ok");
    expect(r.text).not.toContain(env.dir);
    expect(r.text).not.toContain(env.home.dir);
    expect(existsSync(join(env.templates.ok, "out", "test-vm.img"))).toBe(true);
    // The operator may still name a template by path (here: plan only; the tenant's file never runs).
    const adm = await env.call("POST", "/v1/plan", { body: { profile: "profile.t-build", inputs: { packer_template: join(evilDir, "evil.pkr.hcl") } } });
    expect(adm.status, adm.text).toBe(200);
  });
});

describe("vm from a tenant", () => {
  it("an alias outside the inventory and the port registry, localhost included: refused; the registry's VM passes", async () => {
    const before = await env.footprint();
    for (const vm of ["localhost", "prod-db", "sandboxer01"]) {
      for (const path of ["/v1/sandboxes", "/v1/plan"]) {
        const r = await env.call("POST", path, { token: env.tokens.p1, body: { profile: "profile.t-attach", inputs: { vm } } });
        expect(r.status, `${vm}: ${r.text}`).toBe(400);
        expect(r.body.error?.message).toContain(`input 'vm': '${vm}' is not a host of the inventory or a VM of the port registry`);
      }
    }
    const vmName = await env.call("POST", "/v1/plan", {
      token: env.tokens.p1,
      body: { profile: "profile.t-build", inputs: { packer_template: "ok", vm_name: "localhost" } },
    });
    expect(vmName.status).toBe(400);
    const sandboxPath = await env.call("POST", "/v1/plan", {
      token: env.tokens.p1,
      body: { profile: "profile.t-attach", inputs: { vm: "registry-vm", workspace_dir: "~/x" } },
    });
    expect(sandboxPath.body.error?.message).toContain("input 'workspace_dir'");
    expect(await env.footprint()).toBe(before);
    const ok = await env.call("POST", "/v1/plan", { token: env.tokens.p1, body: { profile: "profile.t-attach", inputs: { vm: "registry-vm" } } });
    expect(ok.status, ok.text).toBe(200);
  });

  it("the operator may name any alias", async () => {
    const r = await env.call("POST", "/v1/plan", { body: { profile: "profile.t-attach", inputs: { vm: "localhost" } } });
    expect(r.status, r.text).toBe(200);
  });
});
