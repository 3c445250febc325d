/**
 * Operator-level profiles (Packer builds, build-VM workspaces, host network)
 * are adm-only unless their `access` opens them: a tenant neither sees them
 * (`GET /v1/profiles`) nor plans, creates or restores into them (403
 * SBX_FORBIDDEN naming the profile; exit 4 from the CLI in remote mode).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { type AttackEnv, attackEnv } from "./env.js";

let env: AttackEnv;

beforeAll(async () => {
  env = await attackEnv();
});

afterAll(async () => {
  await env?.close();
});

const ids = (r: { body: Record<string, unknown> }) => (r.body.profiles as { id: string }[]).map((p) => p.id);
const ADM_ONLY = ["profile.vm-packer-build", "profile.vm-haskell-build", "profile.build", "profile.t-hostnet"];

describe("profile access", () => {
  it("a tenant sees only the profiles it may use; the operator sees all", async () => {
    const p1 = ids(await env.call("GET", "/v1/profiles", { token: env.tokens.p1 }));
    const p2 = ids(await env.call("GET", "/v1/profiles", { token: env.tokens.p2 }));
    const adm = ids(await env.call("GET", "/v1/profiles"));
    for (const id of ADM_ONLY) {
      expect(p1).not.toContain(id);
      expect(adm).toContain(id);
    }
    expect(p1).toEqual(expect.arrayContaining(["profile.local", "profile.agent-dev", "profile.t-build", "profile.t-attach"]));
    // t-build is opened to project p1 only.
    expect(p2).toContain("profile.t-attach");
    expect(p2).not.toContain("profile.t-build");
  });

  it("create and plan of an adm-only profile: 403 SBX_FORBIDDEN naming the profile, nothing made", async () => {
    const before = await env.footprint();
    for (const id of ADM_ONLY) {
      for (const path of ["/v1/sandboxes", "/v1/plan"]) {
        const r = await env.call("POST", path, { token: env.tokens.p1, body: { profile: id } });
        expect(r.status, `${path} ${id}: ${r.text}`).toBe(403);
        expect(r.body.error?.code).toBe("SBX_FORBIDDEN");
        expect(r.body.error?.message).toContain(`profile '${id}'`);
      }
    }
    const p2 = await env.call("POST", "/v1/sandboxes", { token: env.tokens.p2, body: { profile: "profile.t-build", inputs: { packer_template: "ok" } } });
    expect(p2.status).toBe(403);
    expect(await env.footprint()).toBe(before);
  });

  it("a restore into an adm-only profile is refused like a create", async () => {
    const sb = await env.call("POST", "/v1/sandboxes", { token: env.tokens.p1, body: { profile: "profile.local" } });
    const snap = await env.call("POST", `/v1/sandboxes/${sb.body.id}/snapshots`, { token: env.tokens.p1, body: {} });
    expect(snap.status, snap.text).toBe(201);
    const before = await env.footprint();
    const r = await env.call("POST", `/v1/snapshots/${snap.body.id}/restore`, { token: env.tokens.p1, body: { profile: "profile.t-hostnet" } });
    expect(r.status, r.text).toBe(403);
    expect(r.body.error?.message).toContain("profile 'profile.t-hostnet'");
    expect(await env.footprint()).toBe(before);
  });

  it("the operator may plan them", async () => {
    const r = await env.call("POST", "/v1/plan", { body: { profile: "profile.vm-packer-build", inputs: { packer_template: "ok" } } });
    expect(r.status, r.text).toBe(200);
    expect((r.body.inputs as Record<string, string>).packer_template).toBe("ok");
  });

  it("the CLI in remote mode: route explain of an adm-only profile exits 4, a path outside the roots exits 2", { timeout: 60_000 }, async () => {
    const remote = { ...env.home.env, SANDBOXER_URL: env.server.url, SANDBOXER_TOKEN: env.tokens.p1 };
    const explain = await runCli(["route", "explain", "--profile", "profile.vm-packer-build", "--json"], remote);
    expect(explain.code, explain.stderr).toBe(4);
    expect(JSON.parse(explain.stderr).error.code).toBe("SBX_FORBIDDEN");
    const create = await runCli(["create", "--profile", "profile.agent-dev", "--input", "repo=~/.ssh", "--json"], remote);
    expect(create.code, create.stderr).toBe(2);
    expect(JSON.parse(create.stderr).error.message).toContain("input 'repo'");
    // The local CLI (no SANDBOXER_URL) is the operator, even when it creates for an agent.
    const local = await runCli(
      ["route", "explain", "--profile", "profile.vm-packer-build", "--actor", "agt", "--project", "p1", "--input", "packer_template=ok", "--json"],
      env.home.env,
    );
    expect(local.code, local.stderr).toBe(0);
  });
});
