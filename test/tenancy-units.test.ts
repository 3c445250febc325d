/**
 * The pure parts of tenant isolation (src/tenancy/): who may use a profile,
 * where a tenant's inputs may point (on real directories and symlinks), what
 * a record keeps of a secret, what a tenant's answers show, and the HCL var
 * file that carries packer_var_* values.
 */
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type InputSpec, inputSpecSchema, type Profile, profileSchema } from "../src/catalog/schema.js";
import { SandboxerError } from "../src/errors.js";
import { hclValue, varFileText } from "../src/extensions/vm-packer/var-file.js";
import { type Caller, checkAccess, mayUse, operatorLevel } from "../src/tenancy/access.js";
import { type ConfineScope, confineInputs, realpathDeepest } from "../src/tenancy/confine.js";
import { isSecretInput, redactInputs, refuseUnkeptSecrets, SECRET_PLACEHOLDER } from "../src/tenancy/secrets.js";
import { eventFor, planViewFor, recordFor, redactText, SERVER_PATH, snapshotFor } from "../src/tenancy/view.js";
import type { Sandbox, SandboxEvent } from "../src/types.js";

const ADM: Caller = { actor: "adm", project: null };
const WEB: Caller = { actor: "agt", project: "web" };
const WEB_ATM: Caller = { actor: "atm", project: "web" };
const OPS: Caller = { actor: "agt", project: "ops" };

const profile = (over: Record<string, unknown>): Profile => ({
  ...profileSchema.parse({ id: "profile.t", version: 1, extension: "ext.local", ...over }),
  file: "/srv/profiles/profile.t.yaml",
});

function fail(fn: () => unknown): SandboxerError {
  try {
    fn();
  } catch (err) {
    if (err instanceof SandboxerError) return err;
    throw err;
  }
  throw new Error("expected a SandboxerError");
}

describe("access: who may use a profile", () => {
  it("an ordinary profile is open to every tenant; operators may use every profile", () => {
    expect(mayUse(profile({}), WEB)).toBe(true);
    expect(mayUse(profile({}), undefined)).toBe(true);
    expect(mayUse(profile({ extension: "ext.vm-packer" }), ADM)).toBe(true);
  });

  it("operator-level work is adm-only by default: vm-packer (either mode, also as a route candidate), host network, a relaxed compose policy", () => {
    const cases = [
      profile({ extension: "ext.vm-packer", mode: "build" }),
      profile({ extension: "ext.vm-packer", mode: "attach" }),
      profile({ extension: undefined, route: { strategy: "prefer-self-hosted", candidates: ["ext.local", "ext.vm-packer"] } }),
      profile({ network: "host" }),
      profile({ extension: "ext.compose-ssh", settings: { composePolicy: { allow: ["privileged"] } } }),
    ];
    for (const p of cases) {
      expect(operatorLevel(p)).not.toBeNull();
      expect(mayUse(p, WEB)).toBe(false);
    }
    expect(operatorLevel(profile({ extension: "ext.compose-ssh", settings: { composePolicy: { allow: [] } } }))).toBeNull();
  });

  it("`access` opens a profile to the actors and projects it lists", () => {
    const opened = profile({ extension: "ext.vm-packer", access: { actors: ["agt"], projects: ["web"] } });
    expect(mayUse(opened, WEB)).toBe(true);
    expect(mayUse(opened, WEB_ATM)).toBe(false);
    expect(mayUse(opened, OPS)).toBe(false);
    expect(mayUse(profile({ access: { projects: ["ops"] } }), WEB)).toBe(false);
    expect(mayUse(profile({ access: {} }), WEB_ATM)).toBe(true);
  });

  it("a refusal is 403 SBX_FORBIDDEN (exit 4) naming the profile and why", () => {
    const err = fail(() => checkAccess(profile({ network: "host" }), WEB));
    expect([err.code, err.httpStatus, err.exitCode]).toEqual(["SBX_FORBIDDEN", 403, 4]);
    expect(err.message).toMatch(/profile 'profile\.t' is not open to agt tokens of project 'web': it uses the host network/);
    expect(err.details?.field).toBe("profile");
  });
});

describe("confine: where a tenant's inputs may point", () => {
  let dir: string;
  let root: string;
  let scope: ConfineScope;
  const specs: Record<string, InputSpec> = {
    repo: inputSpecSchema.parse({ type: "path" }),
    compose_file: inputSpecSchema.parse({ type: "path", relativeTo: "repo" }),
    workspace_dir: inputSpecSchema.parse({ type: "path", within: "sandbox" }),
    packer_template: inputSpecSchema.parse({ type: "path", within: "template" }),
    packer_var_file: inputSpecSchema.parse({ type: "path", within: "operator" }),
    vm: inputSpecSchema.parse({ type: "name" }),
    token: inputSpecSchema.parse({ type: "string", secret: true }),
    packer_var_: inputSpecSchema.parse({ type: "string", prefix: true }),
  };
  const as = (caller: Caller | undefined, inputs: Record<string, string>) => confineInputs(specs, inputs, { ...scope, caller });
  const refused = (caller: Caller | undefined, inputs: Record<string, string>) => {
    const e = fail(() => as(caller, inputs));
    return `${e.code}:${String(e.details?.field)}`;
  };

  beforeAll(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), "sbx-confine-")));
    root = join(dir, "granted");
    mkdirSync(join(root, "app"), { recursive: true });
    writeFileSync(join(root, "app", "compose.yaml"), "services: {}\n");
    mkdirSync(join(dir, "secret"));
    writeFileSync(join(dir, "secret", "key"), "k");
    symlinkSync(join(dir, "secret"), join(root, "dir-out"));
    symlinkSync(join(dir, "secret", "key"), join(root, "app", "file-out"));
    symlinkSync(join(dir, "nowhere"), join(root, "dangling"));
    symlinkSync(root, join(dir, "root-link"));
    scope = { caller: WEB, roots: [join(dir, "root-link")], templates: new Map([["base", "/srv/templates/base"]]), vms: new Set(["haskell-build"]) };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("relative server paths start at the project's root; absolute ones must be under it; the real path is what the extension gets", () => {
    expect(as(WEB, { repo: "app" }).inputs.repo).toBe(join(root, "app"));
    expect(as(WEB, { repo: join(root, "app") }).inputs.repo).toBe(join(root, "app"));
    expect(as(WEB, { repo: "app/not-yet" }).inputs.repo).toBe(join(root, "app", "not-yet"));
    expect(refused(WEB, { repo: dir })).toBe("SBX_INPUT_INVALID:repo");
    expect(refused(WEB, { repo: "/etc" })).toBe("SBX_INPUT_INVALID:repo");
  });

  it("symlinks are followed: a link (dir or file) pointing out of the root, or dangling, is refused", () => {
    expect(refused(WEB, { repo: "dir-out" })).toBe("SBX_INPUT_INVALID:repo");
    expect(refused(WEB, { repo: "dir-out/key" })).toBe("SBX_INPUT_INVALID:repo");
    expect(refused(WEB, { repo: "app/file-out" })).toBe("SBX_INPUT_INVALID:repo");
    expect(refused(WEB, { repo: "dangling" })).toBe("SBX_INPUT_INVALID:repo");
    expect(realpathDeepest(join(root, "dangling"))).toBeNull();
  });

  it("'~' is never the server's home for a tenant; a project without roots may name no server path", () => {
    const e = fail(() => as(WEB, { repo: "~/.ssh" }));
    expect(e.message).toMatch(/'~' is not allowed/);
    expect(refused(WEB, { repo: "~" })).toBe("SBX_INPUT_INVALID:repo");
    expect(fail(() => confineInputs(specs, { repo: "app" }, { ...scope, roots: [] })).message).toMatch(/project 'web' has no server directories granted/);
  });

  it("relativeTo: compose_file stays relative to the (confined) repo, and may not point out of the root", () => {
    const ok = as(WEB, { repo: "app", compose_file: "compose.yaml" });
    expect(ok.inputs).toEqual({ repo: join(root, "app"), compose_file: "compose.yaml" });
    expect(refused(WEB, { repo: "app", compose_file: "file-out" })).toBe("SBX_INPUT_INVALID:compose_file");
    // Without a repo it is a lone server path, confined like one.
    expect(as(WEB, { compose_file: "app/compose.yaml" }).inputs.compose_file).toBe(join(root, "app", "compose.yaml"));
  });

  it("templates by name only (operators may still give a path); names stay names on the record", () => {
    const t = as(WEB, { packer_template: "base" });
    expect(t.inputs.packer_template).toBe("/srv/templates/base");
    expect(t.recorded.packer_template).toBe("base");
    expect(refused(WEB, { packer_template: join(root, "app") })).toBe("SBX_INPUT_INVALID:packer_template");
    expect(as(undefined, { packer_template: "/opt/t" }).inputs.packer_template).toBe("/opt/t");
    expect(as(ADM, { packer_template: "base" }).inputs.packer_template).toBe("/srv/templates/base");
  });

  it("vm names an inventory host or a registry VM; sandbox paths refuse '~'; operator-only inputs are refused", () => {
    expect(as(WEB, { vm: "haskell-build" }).inputs.vm).toBe("haskell-build");
    expect(refused(WEB, { vm: "localhost" })).toBe("SBX_INPUT_INVALID:vm");
    expect(refused(WEB, { vm: "prod-db" })).toBe("SBX_INPUT_INVALID:vm");
    expect(as(WEB, { workspace_dir: "sub" }).inputs.workspace_dir).toBe("sub");
    expect(refused(WEB, { workspace_dir: "~/x" })).toBe("SBX_INPUT_INVALID:workspace_dir");
    expect(refused(WEB, { packer_var_file: "app/v.pkrvars.hcl" })).toBe("SBX_INPUT_INVALID:packer_var_file");
  });

  it("operators are not confined", () => {
    expect(as(undefined, { repo: "~/.ssh", vm: "localhost", packer_var_file: "/x" }).inputs).toEqual({
      repo: "~/.ssh",
      vm: "localhost",
      packer_var_file: "/x",
    });
  });

  it("the record keeps secrets as a placeholder; the extension gets the value", () => {
    const c = as(WEB, { token: "s3cr3t", packer_var_pw: "hunter2", repo: "app" });
    expect(c.inputs).toMatchObject({ token: "s3cr3t", packer_var_pw: "hunter2" });
    expect(c.recorded).toMatchObject({ token: SECRET_PLACEHOLDER, packer_var_pw: SECRET_PLACEHOLDER, repo: join(root, "app") });
  });
});

describe("secrets", () => {
  it("`secret: true` and every packer_var_* (not packer_var_file) are secret", () => {
    expect(isSecretInput("token", { secret: true })).toBe(true);
    expect(isSecretInput("packer_var_region", undefined)).toBe(true);
    expect(isSecretInput("packer_var_file", undefined)).toBe(false);
    expect(isSecretInput("repo", {})).toBe(false);
    expect(redactInputs({}, { packer_var_a: "x", vm_name: "v" })).toEqual({ packer_var_a: SECRET_PLACEHOLDER, vm_name: "v" });
  });

  it("a placeholder where a secret belongs (recreate, restore) is refused naming the input", () => {
    const e = fail(() => refuseUnkeptSecrets({}, { packer_var_pw: SECRET_PLACEHOLDER }));
    expect([e.code, e.details?.field]).toEqual(["SBX_INPUT_MISSING", "packer_var_pw"]);
    expect(e.message).toMatch(/not kept on records.*give them/);
    expect(() => refuseUnkeptSecrets({}, { vm_name: SECRET_PLACEHOLDER })).not.toThrow();
  });
});

describe("view: what a tenant sees", () => {
  const sb: Sandbox = {
    id: "sbx-aaaaaaaaaaaa",
    profile: "profile.local",
    profileVersion: 1,
    extension: "ext.local",
    mode: null,
    host: "localhost",
    state: "failed",
    actor: "agt",
    project: "web",
    inputs: { repo: "/srv/repos/web/app", name: "x", packer_var_pw: SECRET_PLACEHOLDER },
    createdAt: "2026-01-01T00:00:00.000Z",
    readyAt: null,
    expiresAt: null,
    destroyedAt: null,
    reason: null,
    reachability: {
      kind: "namespace",
      workspace: "/home/sbx/.local/share/sandboxer/workspaces/sbx-aaaaaaaaaaaa",
      mountedAt: "/workspace",
      pid: 4242,
      ssh: "ssh -F /home/sbx/.ssh/config vm 'cd /build/x && ...'",
      log: "/home/sbx/.local/share/sandboxer/logs/x.log",
      artifacts: [{ files: ["/srv/out/demo.img"], id: "File" }],
      urls: ["http://sandboxer01.example:8080/"],
      exec: "sandboxer exec sbx-aaaaaaaaaaaa -- CMD...",
    },
    route: { chosen: "ext.local", strategy: "explicit", reason: "asked", rejected: [{ extension: "ext.x", why: "config /etc/sandboxer/x.yaml is broken" }] },
    cost: null,
    error: { code: "SBX_PROVISION_FAILED", message: "sandbox init process exited: bwrap: cannot open /home/sbx/ws/sbx-a: EACCES" },
    hostFacts: { cpus: 2, diskPath: "/home/sbx/.local/share/sandboxer" },
    ttlSeconds: 60,
    updatedAt: "2026-01-01T00:00:00.000Z",
  };

  it("operators see the record as it is", () => {
    expect(recordFor(ADM, sb)).toBe(sb);
    expect(recordFor(undefined, sb)).toBe(sb);
  });

  it("tenants get no server path anywhere: reachability, host facts, route, error, inputs", () => {
    const v = recordFor(WEB, sb);
    const text = JSON.stringify(v);
    for (const leak of ["/home/sbx", "/srv/", "/etc/", "-F", "4242"]) expect(text).not.toContain(leak);
    expect(v.reachability).toEqual({
      kind: "namespace",
      mountedAt: "/workspace",
      artifacts: [{ files: [], id: "File" }],
      urls: ["http://sandboxer01.example:8080/"],
      exec: "sandboxer exec sbx-aaaaaaaaaaaa -- CMD...",
    });
    expect(v.inputs).toEqual({ repo: SERVER_PATH, name: "x", packer_var_pw: SECRET_PLACEHOLDER });
    expect(v.error?.message).toBe(`sandbox init process exited: bwrap: cannot open ${SERVER_PATH}: EACCES`);
    expect(v.hostFacts).toEqual({ cpus: 2 });
    expect(sb.reachability?.workspace).toBeDefined(); // pure: the input is untouched
  });

  it("events, snapshots and plans", () => {
    const e: SandboxEvent = {
      seq: 1,
      id: "evt-1",
      type: "sandbox.progress",
      sandboxId: sb.id,
      at: sb.createdAt,
      actor: "agt",
      project: "web",
      data: { message: "copying /srv/repos/web/app into the workspace", reachability: sb.reachability },
    };
    expect(JSON.stringify(eventFor(WEB, e))).not.toMatch(/\/srv|\/home/);
    expect(eventFor(ADM, e)).toBe(e);
    const snap = {
      id: "snap-aaaaaaaaaaaa",
      name: null,
      sandboxId: sb.id,
      profile: sb.profile,
      profileVersion: 1,
      extension: "ext.local",
      host: "localhost",
      inputs: sb.inputs,
      actor: "agt",
      project: "web",
      format: "tar+zstd" as const,
      digest: "sha256:0",
      sha256: "0",
      sizeBytes: 1,
      path: "/home/sbx/snapshots/snap-aaaaaaaaaaaa.tar.zst",
      createdAt: sb.createdAt,
    };
    expect(snapshotFor(WEB, snap)).not.toHaveProperty("path");
    expect(JSON.stringify(snapshotFor(WEB, snap))).not.toContain("/srv/");
    expect(snapshotFor(ADM, snap).path).toBe(snap.path);
    const plan = {
      profile: profile({}),
      registration: { id: "ext.local", file: "/srv/ext/local.yaml" },
      route: sb.route,
      host: { name: "h", labels: [], ssh: { host: "h.example", identityFile: "/root/.ssh/id" } },
      inputs: { packer_var_pw: "hunter2", repo: "/srv/repos/web/app" },
      recorded: { packer_var_pw: SECRET_PLACEHOLDER, repo: "/srv/repos/web/app" },
      ttlSeconds: 60,
      actor: "agt",
      project: "web",
      mode: null,
    } as unknown as Parameters<typeof planViewFor>[1];
    // Never the secret value, not even to operators.
    expect(JSON.stringify(planViewFor(ADM, plan))).not.toContain("hunter2");
    const tenant = JSON.stringify(planViewFor(WEB, plan));
    for (const leak of ["hunter2", "/srv/", "/root/", "identityFile"]) expect(tenant).not.toContain(leak);
  });

  it("redactText keeps URLs, relative paths, the sandbox's /workspace and API routes", () => {
    expect(redactText("see http://h:1/x and a/b, /workspace/src, /v1/sandboxes/x")).toBe("see http://h:1/x and a/b, /workspace/src, /v1/sandboxes/x");
    expect(redactText("cannot read ~/.ssh/id or /etc/passwd; --out=/tmp/x")).toBe(`cannot read ${SERVER_PATH} or ${SERVER_PATH}; --out=${SERVER_PATH}`);
  });
});

describe("packer var file: any HCL literal, written back quoted", () => {
  it("plain text is a string; lists, maps and quoted strings are parsed and re-emitted", () => {
    expect(hclValue("packer_var_a", "eu-west-1")).toBe('"eu-west-1"');
    expect(hclValue("packer_var_a", '["a", "b,c", 1, true]')).toBe('["a", "b,c", 1, true]');
    expect(hclValue("packer_var_a", '{ a = "1", "b c": [2] }')).toBe('{ "a" = "1", "b c" = [2] }');
    expect(hclValue("packer_var_a", '"quoted \\"x\\""')).toBe('"quoted \\"x\\""');
  });

  it("nothing is interpolated: ${ and %{ in plain text are escaped; a template in a literal must be doubled", () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: HCL template syntax, on purpose
    expect(hclValue("packer_var_a", '${file("/etc/passwd")}')).toBe('"$${file(\\"/etc/passwd\\")}"');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: HCL template syntax, on purpose
    const e = fail(() => hclValue("packer_var_a", '["${var.x}"]'));
    expect([e.code, e.details?.field]).toEqual(["SBX_INPUT_INVALID", "packer_var_a"]);
    expect(hclValue("packer_var_a", '"$${x}"')).toBe('"$${x}"');
  });

  it("a broken literal is refused naming the input, never echoing the value", () => {
    const e = fail(() => hclValue("packer_var_pw", '["hunter2"'));
    expect(e.message).toMatch(/input 'packer_var_pw'/);
    expect(e.message).not.toContain("hunter2");
    expect(() => hclValue("packer_var_a", "[1] extra")).toThrow(SandboxerError);
    expect(() => hclValue("packer_var_a", "{ a = func() }")).toThrow(SandboxerError);
  });

  it("one line per variable, sorted; none -> no file", () => {
    expect(varFileText({ packer_var_b: "2", packer_var_a: "x", packer_var_file: "/v", vm_name: "n" })).toBe('a = "x"\nb = "2"\n');
    expect(varFileText({ vm_name: "n" })).toBeNull();
  });
});
