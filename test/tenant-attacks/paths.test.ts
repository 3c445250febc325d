/**
 * A tenant token tries to reach server files through path inputs: `~`,
 * $SANDBOXER_HOME, absolute paths, symlinks inside its granted root pointing
 * out (dir and file), another tenant's workspace, `%2e%2e` and encoded
 * slashes. Each is refused (400, the input named) and leaves nothing: no
 * record, no process, no file copied, nothing new in any workspace. The
 * granted root works for the tenant; the operator is not confined.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Sandbox } from "../../src/types.js";
import { type AttackEnv, attackEnv } from "./env.js";

let env: AttackEnv;
let mine: Sandbox;
let theirs: Sandbox;
const workspaceOf = (id: string) => join(env.home.dir, "home", "workspaces", id);

beforeAll(async () => {
  env = await attackEnv();
  const a = await env.call("POST", "/v1/sandboxes", { token: env.tokens.p1, body: { profile: "profile.local" } });
  const b = await env.call("POST", "/v1/sandboxes", { token: env.tokens.p2, body: { profile: "profile.local" } });
  expect([a.status, b.status], a.text + b.text).toEqual([201, 201]);
  mine = a.body as unknown as Sandbox;
  theirs = b.body as unknown as Sandbox;
  await env.call("POST", `/v1/sandboxes/${theirs.id}/exec`, { token: env.tokens.p2, body: { command: ["sh", "-c", "echo p2 data > /workspace/p2.txt"] } });
}, 120_000);

afterAll(async () => {
  await env?.close();
});

describe("path inputs from a tenant", () => {
  const attacks = (): [string, string][] => [
    ["~/.ssh", "'~' is not allowed"],
    ["~", "'~' is not allowed"],
    [env.home.env.SANDBOXER_HOME as string, "outside the directories granted"],
    [env.outside, "outside the directories granted"],
    ["/etc", "outside the directories granted"],
    ["/", "outside the directories granted"],
    ["link-dir", "outside the directories granted"],
    [join(env.root, "link-dir"), "outside the directories granted"],
    ["link-dir/secret.txt", "outside the directories granted"],
    ["app/link-file", "outside the directories granted"],
    [workspaceOf(theirs.id), "outside the directories granted"],
    [workspaceOf(mine.id), "outside the directories granted"],
    ["../outside", "'..'"],
    ["%2e%2e/%2e%2e/outside", "not a directory"],
    ["..%2f..%2foutside", "not a directory"],
    ["app%2f..%2f..%2flink-dir", "not a directory"],
  ];

  it("each is refused with 400 naming the input, for create and for plan, and leaves nothing behind", async () => {
    for (const [repo, why] of attacks()) {
      const before = await env.footprint();
      for (const path of ["/v1/sandboxes", "/v1/plan"]) {
        const r = await env.call("POST", path, { token: env.tokens.p1, body: { profile: "profile.agent-dev", inputs: { repo } } });
        expect(r.status, `${path} repo=${repo}: ${r.text}`).toBe(400);
        expect(r.body.error?.code).toBe("SBX_INPUT_INVALID");
        expect(r.body.error?.message).toContain("input 'repo'");
        expect(r.body.error?.message).toContain(why);
        // The refusal does not tell the tenant where anything is on the server.
        expect(r.text).not.toContain(env.dir);
        expect(r.text).not.toContain(env.home.dir);
      }
      expect(await env.footprint(), `after repo=${repo}`).toBe(before);
    }
  });

  it("the same through profile.local's optional repo and a restore with inputs", async () => {
    const snap = await env.call("POST", `/v1/sandboxes/${mine.id}/snapshots`, { token: env.tokens.p1, body: {} });
    expect(snap.status, snap.text).toBe(201);
    const before = await env.footprint();
    const a = await env.call("POST", "/v1/sandboxes", { token: env.tokens.p1, body: { profile: "profile.local", inputs: { repo: "link-dir" } } });
    const b = await env.call("POST", `/v1/snapshots/${snap.body.id}/restore`, { token: env.tokens.p1, body: { inputs: { repo: env.outside } } });
    expect([a.status, b.status]).toEqual([400, 400]);
    expect(b.body.error?.message).toContain("input 'repo'");
    expect(await env.footprint()).toBe(before);
  });

  it("encoded dots and slashes in route params reach no other sandbox", async () => {
    const before = await env.footprint();
    for (const path of [
      "/v1/sandboxes/%2e%2e",
      `/v1/sandboxes/%2e%2e%2f${theirs.id}`,
      `/v1/sandboxes/${mine.id}%2f..%2f${theirs.id}`,
      `/v1/sandboxes/..%2F..%2F${theirs.id}/exec`,
      `/v1/sandboxes/%2E%2E/sandboxes/${theirs.id}`,
    ]) {
      const r = await env.call(path.endsWith("/exec") ? "POST" : "GET", path, {
        token: env.tokens.p1,
        body: path.endsWith("/exec") ? { command: ["cat", "/workspace/p2.txt"] } : undefined,
      });
      expect(r.status, `${path}: ${r.text}`).toBe(404);
      expect(r.text).not.toContain("p2 data");
      expect(r.text).not.toContain(theirs.id.slice(4) + '"');
    }
    expect(await env.footprint()).toBe(before);
  });

  it("the granted root works: a relative path from the tenant is copied in, and its record shows no server path", async () => {
    const r = await env.call("POST", "/v1/sandboxes", { token: env.tokens.p1, body: { profile: "profile.agent-dev", inputs: { repo: "app" } } });
    expect(r.status, r.text).toBe(201);
    const sb = r.body as unknown as Sandbox;
    const cat = await env.call("POST", `/v1/sandboxes/${sb.id}/exec`, { token: env.tokens.p1, body: { command: ["cat", "/workspace/hello.txt"] } });
    expect(cat.body.stdout).toBe("hello from p1\n");
    // The symlink pointing out came along as a link: inside the sandbox it leads nowhere.
    const link = await env.call("POST", `/v1/sandboxes/${sb.id}/exec`, { token: env.tokens.p1, body: { command: ["cat", "/workspace/link-file"] } });
    expect(link.body.stdout).not.toContain("server secret");
    // The operator sees where it came from; the tenant does not.
    expect((await env.broker.get(sb.id)).inputs.repo).toBe(join(env.root, "app"));
    expect(sb.inputs.repo).toBe("(server path)");
  });

  it("the operator is not confined: an absolute path outside every root (API adm token, and the local CLI acting as agt)", async () => {
    const r = await env.call("POST", "/v1/sandboxes", { body: { profile: "profile.agent-dev", inputs: { repo: env.outside }, project: "p1", actor: "agt" } });
    expect(r.status, r.text).toBe(201);
    const cat = await env.call("POST", `/v1/sandboxes/${r.body.id}/exec`, { body: { command: ["cat", "/workspace/secret.txt"] } });
    expect(cat.body.stdout).toBe("server secret\n");
    const local = await env.broker.create({ profile: "profile.agent-dev", inputs: { repo: env.outside }, actor: "agt", project: "p1" });
    expect(local.state).toBe("ready");
    expect(existsSync(join(workspaceOf(local.id), "secret.txt"))).toBe(true);
  });

  it("no server path in anything the tenant reads: records, lists, events, snapshots", async () => {
    const leaks = [env.dir, env.home.dir, "/tmp/"];
    const reads = [
      await env.call("GET", "/v1/sandboxes?all=true", { token: env.tokens.p1 }),
      await env.call("GET", `/v1/sandboxes/${mine.id}`, { token: env.tokens.p1 }),
      await env.call("GET", "/v1/events?format=json", { token: env.tokens.p1 }),
      await env.call("GET", "/v1/snapshots", { token: env.tokens.p1 }),
      await env.call("GET", "/v1/profiles", { token: env.tokens.p1 }),
      await env.call("GET", "/v1/extensions", { token: env.tokens.p1 }),
      await env.call("POST", "/v1/plan", { token: env.tokens.p1, body: { profile: "profile.agent-dev", inputs: { repo: "app" } } }),
    ];
    for (const r of reads) {
      expect(r.status, r.text).toBe(200);
      for (const leak of leaks) expect(r.text).not.toContain(leak);
    }
    // ...while the operator's answers carry them (the view is the only difference).
    expect((await env.call("GET", `/v1/sandboxes/${mine.id}`)).text).toContain(env.home.dir);
  });
});
