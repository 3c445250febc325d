// biome-ignore-all lint/suspicious/noTemplateCurlyInString: compose text uses ${VAR} literally
/**
 * A tenant's compose file is an attack on the compose host: every forbidden
 * key, and the tricky ways in (interpolation from .env, extends from another
 * file, a symlink in the tenant's own root), through the real API with a
 * tenant token: 403 SBX_POLICY_DENIED, and nothing recorded. A profile the
 * operator relaxed lets the same stack through the plan, for adm only.
 */
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { type RunningServer, startServer } from "../../src/api/server.js";
import type { Broker } from "../../src/broker.js";
import { makeHome, type TestHome } from "../helpers/home.js";

const profile = (id: string, extra: Record<string, unknown>) => ({
  id,
  version: 1,
  extension: "ext.compose-ssh",
  placement: { hosts: ["far"] },
  inputs: { repo: { type: "path" } },
  ...extra,
});

let dir: string;
let root: string;
let home: TestHome;
let broker: Broker;
let server: RunningServer;
let tokens: { adm: string; p1: string };

async function call(path: string, token: string, body: unknown): Promise<{ status: number; error?: { code: string; message: string } }> {
  const r = await fetch(`http://127.0.0.1:${server.port}${path}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const parsed = (await r.json()) as { error?: { code: string; message: string } };
  return { status: r.status, ...(parsed.error ? { error: parsed.error } : {}) };
}

/** A stack in the tenant's granted root: files relative to the stack dir. */
function stack(name: string, files: Record<string, string>): string {
  const d = join(root, name);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(dirname(join(d, rel)), { recursive: true });
    writeFileSync(join(d, rel), text);
  }
  return d;
}

const svc = (lines: string) => `services:\n  app:\n    image: localhost/app\n${lines.replace(/^/gm, "    ")}\n`;

beforeAll(async () => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), "sbx-attack-compose-")));
  root = join(dir, "roots", "p1");
  mkdirSync(root, { recursive: true });
  mkdirSync(join(dir, "outside"));
  const profiles = join(dir, "profiles");
  mkdirSync(profiles);
  writeFileSync(join(profiles, "profile.t-compose.yaml"), stringify(profile("profile.t-compose", { access: { actors: ["agt"], projects: ["p1"] } })));
  writeFileSync(
    join(profiles, "profile.t-compose-relaxed.yaml"),
    stringify(profile("profile.t-compose-relaxed", { settings: { composePolicy: { allow: ["privileged", "bind_mounts"] } } })),
  );
  home = makeHome({ SANDBOXER_PROFILES_DIR: profiles });
  // `far` is never reached: every refusal here happens before placement.
  writeFileSync(
    home.env.SANDBOXER_CONFIG as string,
    stringify({
      projects: { p1: { roots: [root] } },
      hosts: { far: { ssh: { host: "127.0.0.1", port: 9 }, compose: "podman-compose", workspaceRoot: "/nonexistent/sbx" } },
    }),
  );
  broker = home.broker();
  server = await startServer(broker, { port: 0, rateLimit: 0, accessLog: () => {} });
  tokens = { adm: (await broker.createToken({ actor: "adm" })).token, p1: (await broker.createToken({ actor: "agt", project: "p1" })).token };
});

afterAll(async () => {
  await server?.close();
  await home?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe("compose files from a tenant", () => {
  const attacks: [string, Record<string, string>, RegExp][] = [
    ["privileged", { "compose.yaml": svc("privileged: true") }, /service 'app': privileged: true is not allowed/],
    ["cap_add", { "compose.yaml": svc("cap_add: [SYS_ADMIN]") }, /cap_add: \[SYS_ADMIN\]/],
    ["devices", { "compose.yaml": svc('devices: ["/dev/mem:/dev/mem"]') }, /devices: /],
    ["network_mode", { "compose.yaml": svc("network_mode: host") }, /network_mode: host/],
    ["pid", { "compose.yaml": svc("pid: host") }, /pid: host/],
    ["ipc", { "compose.yaml": svc("ipc: host") }, /ipc: host/],
    ["userns_mode", { "compose.yaml": svc("userns_mode: host") }, /userns_mode: host/],
    ["security_opt", { "compose.yaml": svc('security_opt: ["seccomp=unconfined"]') }, /security_opt: 'seccomp=unconfined'/],
    ["bind of /", { "compose.yaml": svc('volumes: ["/:/host"]') }, /bind mount '\/' is an absolute path/],
    ["bind ../", { "compose.yaml": svc('volumes: ["../../../outside:/o"]') }, /bind mount '\.\.\/\.\.\/\.\.\/outside' resolves outside/],
    ["privileged from .env", { "compose.yaml": svc("privileged: ${P}"), ".env": "P=true\n" }, /privileged: true/],
    [
      "privileged through extends",
      { "compose.yaml": svc("extends: { file: base.yaml, service: base }"), "base.yaml": "services:\n  base:\n    privileged: true\n" },
      /service 'app' \(extends 'base' from base\.yaml\): privileged: true/,
    ],
    ["env_file outside", { "compose.yaml": svc("env_file: [../../../outside/secret.env]") }, /env_file: file/],
  ];

  it.each(attacks)("%s: 403 SBX_POLICY_DENIED, no record", async (_name, files, message) => {
    const repo = stack(`s-${_name.replace(/\W+/g, "-")}`, files);
    const r = await call("/v1/sandboxes", tokens.p1, { profile: "profile.t-compose", inputs: { repo } });
    expect(r.status).toBe(403);
    expect(r.error?.code).toBe("SBX_POLICY_DENIED");
    expect(r.error?.message).toMatch(message);
    expect(r.error?.message).not.toContain(dir);
    expect(await broker.list({})).toEqual([]);
  });

  it("a symlink in the tenant's own root pointing out does not help", async () => {
    const repo = stack("s-symlink", { "compose.yaml": svc('volumes: ["./data:/data"]') });
    symlinkSync(join(dir, "outside"), join(repo, "data"));
    const r = await call("/v1/sandboxes", tokens.p1, { profile: "profile.t-compose", inputs: { repo } });
    expect(r.status).toBe(403);
    expect(r.error?.message).toMatch(/bind mount '\.\/data' resolves outside the stack directory/);
    expect(await broker.list({})).toEqual([]);
  });

  it("a relaxed profile is the operator's: adm plans the same stack, the tenant is refused the profile", async () => {
    const repo = stack("s-relaxed", { "compose.yaml": svc('privileged: true\nvolumes: ["/srv:/srv"]') });
    const adm = await call("/v1/plan", tokens.adm, { profile: "profile.t-compose-relaxed", inputs: { repo } });
    expect(adm.status, JSON.stringify(adm.error)).toBe(200);
    const tenant = await call("/v1/plan", tokens.p1, { profile: "profile.t-compose-relaxed", inputs: { repo } });
    expect(tenant.status).toBe(403);
    expect(tenant.error?.code).toBe("SBX_FORBIDDEN");
    // The plain profile still refuses it for adm too: the policy is the profile's, not the caller's.
    const strict = await call("/v1/plan", tokens.adm, { profile: "profile.t-compose", inputs: { repo } });
    expect(strict.error?.code).toBe("SBX_POLICY_DENIED");
    expect(await broker.list({})).toEqual([]);
  });
});
