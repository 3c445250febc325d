/**
 * packer_var_* values are secrets: a tenant's build gets them (through a 0600
 * var file in the build's state dir, removed when the build ends) while they
 * appear in no process's argv, no record, event or access-log line, for
 * tenant or operator. Recreate cannot repeat a value that was never kept, and
 * says so before destroying anything; idempotent retries still match.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Sandbox } from "../../src/types.js";
import { type AttackEnv, attackEnv } from "./env.js";
import { openStore } from "../helpers/store.js";

let env: AttackEnv;
const SECRET = `s3cr3t-${process.pid}-x'y"z $HOME`;

/** Every process's argv that mentions `needle`. */
function argvWith(needle: string): string[] {
  const hits: string[] = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, "utf8");
      if (argv.includes(needle)) hits.push(argv.replace(/\0/g, " "));
    } catch {
      // gone
    }
  }
  return hits;
}

beforeAll(async () => {
  env = await attackEnv();
});

afterAll(async () => {
  await env?.close();
});

describe("secret inputs", () => {
  let sb: Sandbox;

  it("reach the build, but never argv: ps shows no value while Packer runs; the var file is 0600", { timeout: 120_000 }, async () => {
    const body = { profile: "profile.t-build", inputs: { packer_template: "secret", packer_var_token: SECRET, packer_var_tags: '["a", "b c"]' } };
    const pending = env.call("POST", "/v1/sandboxes", { token: env.tokens.p1, body });
    let seen: string[] = [];
    let varFileMode = 0;
    const stateRoot = join(env.home.dir, "home", "run", "vm-packer");
    // Watch until the provisioner runs (its "started" line), scanning every process's argv all the while.
    for (let i = 0; i < 600; i++) {
      seen = seen.concat(argvWith(SECRET.slice(0, 16)));
      const id = (await env.broker.list({})).find((s) => s.profile === "profile.t-build")?.id;
      if (id) {
        try {
          varFileMode = statSync(join(stateRoot, id, "vars.pkrvars.hcl")).mode & 0o777;
        } catch {
          // not written yet, or already removed
        }
        if ((await env.broker.events({ sandboxId: id })).some((e) => String(e.data.message ?? "").includes("started"))) break;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    seen = seen.concat(argvWith(SECRET.slice(0, 16)));
    const r = await pending;
    expect(seen).toEqual([]);
    expect(r.status, r.text).toBe(201);
    sb = r.body as unknown as Sandbox;
    expect(varFileMode).toBe(0o600);
    // Packer got the exact value and the list.
    expect(readFileSync(join(env.templates.secret, "got-token"), "utf8")).toBe(`${SECRET}\n`);
    expect(readFileSync(join(env.templates.secret, "got-tags"), "utf8")).toBe("a,b c\n");
    // The var file lived only while Packer ran.
    expect(readdirSync(join(stateRoot, sb.id))).not.toContain("vars.pkrvars.hcl");
  });

  it("are in no record, event, access-log line or build log, for the tenant or the operator", async () => {
    expect(sb.inputs).toMatchObject({ packer_var_token: "(secret)", packer_var_tags: "(secret)", packer_template: "secret" });
    const reads = [
      await env.call("GET", `/v1/sandboxes/${sb.id}`, { token: env.tokens.p1 }),
      await env.call("GET", `/v1/sandboxes/${sb.id}`),
      await env.call("GET", "/v1/sandboxes?all=true"),
      await env.call("GET", `/v1/events?format=json&sandbox=${sb.id}`, { token: env.tokens.p1 }),
      await env.call("GET", `/v1/events?format=json&sandbox=${sb.id}`),
      await env.call("POST", "/v1/plan", { body: { profile: "profile.t-build", inputs: { packer_template: "secret", packer_var_token: SECRET } } }),
    ];
    for (const r of reads) {
      expect(r.status).toBe(200);
      expect(r.text).not.toContain(SECRET.slice(0, 16));
    }
    expect(env.log.join("\n")).not.toContain(SECRET.slice(0, 16));
    expect(readFileSync(join(env.home.dir, "home", "logs", "vm-packer", `${sb.id}.log`), "utf8")).not.toContain(SECRET.slice(0, 16));
    const store = openStore(env.home.env);
    try {
      const row = await store.sandboxes.get(sb.id);
      expect(JSON.stringify(row?.inputs)).not.toContain(SECRET.slice(0, 16));
      const events = await store.events.list({ limit: 1_000_000 });
      expect(events.map((e) => JSON.stringify(e.data)).join(",")).not.toContain(SECRET.slice(0, 16));
    } finally {
      await store.close();
    }
  });

  it("recreate refuses (the value was never kept) before the old sandbox is touched", async () => {
    const before = await env.footprint();
    const r = await env.call("POST", `/v1/sandboxes/${sb.id}/recreate`, { token: env.tokens.p1 });
    expect(r.status, r.text).toBe(400);
    expect(r.body.error?.code).toBe("SBX_INPUT_MISSING");
    expect(r.body.error?.message).toMatch(/input 'packer_var_tags'.*not kept on records/);
    expect((await env.broker.get(sb.id)).state).toBe("ready");
    expect(await env.footprint()).toBe(before);
  });

  it("an idempotent retry with the same secret is the same sandbox; another secret under the key is a conflict", { timeout: 120_000 }, async () => {
    const create = (greeting: string) =>
      env.call("POST", "/v1/sandboxes", {
        token: env.tokens.p1,
        headers: { "Idempotency-Key": "build-1" },
        body: { profile: "profile.t-build", inputs: { packer_template: "ok", packer_var_greeting: greeting } },
      });
    const a = await create("one");
    const b = await create("one");
    expect([a.status, b.status], a.text).toEqual([201, 201]);
    expect(b.body.id).toBe(a.body.id);
    const c = await create("two");
    expect(c.status).toBe(409);
    expect(c.body.error?.code).toBe("SBX_IDEMPOTENCY_CONFLICT");
  });
});
