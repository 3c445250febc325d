/**
 * `--host` / SANDBOXER_HOST override a profile's placement (any inventory host;
 * a `placement: { locked: true }` profile refuses), and a registration's
 * `limits.maxTtl` is enforced: an asked-for ttl over it is refused at plan
 * time naming `ttl`, a default is cut to it, extend-ttl stays under it.
 * Plans through the real CLI; creates with Debian's real packer.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { type Profile, profileSchema, type Registration, registrationSchema } from "../src/catalog/schema.js";
import { SandboxerError } from "../src/errors.js";
import { decideRoute } from "../src/routing/index.js";
import type { Sandbox } from "../src/types.js";
import { type ApiFixture, apiFixture } from "./helpers/api.js";
import { processesIn } from "./helpers/assert.js";
import { runCli } from "./helpers/cli.js";
import { makeHome, type TestHome } from "./helpers/home.js";

const FIX = join(import.meta.dirname, "fixtures", "packer");
const D = 86400;
let home: TestHome;
let work: string;
let profiles: string;

const INVENTORY = { hosts: { box1: { ssh: { host: "box1.invalid" } }, box2: { ssh: { host: "box2.invalid" } } } };

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "sbx-placement-"));
  profiles = join(work, "profiles");
  mkdirSync(profiles);
  cpSync(join(FIX, "ok"), join(work, "ok"), { recursive: true });
  // A build profile placed on box1 only, its locked twin, and one with a default TTL over ext.vm-packer's limits.maxTtl (7d).
  const base = { version: 1, extension: "ext.vm-packer", mode: "build", inputs: { packer_template: { type: "path" } } };
  writeFileSync(
    join(profiles, "profile.t-box1.yaml"),
    stringify({ id: "profile.t-box1", ...base, placement: { hosts: ["box1"] }, ttl: { default: "1h", max: "14d" } }),
  );
  writeFileSync(
    join(profiles, "profile.t-locked.yaml"),
    stringify({ id: "profile.t-locked", ...base, placement: { hosts: ["box1"], locked: true }, ttl: { default: "1h", max: "14d" } }),
  );
  writeFileSync(
    join(profiles, "profile.t-long.yaml"),
    stringify({ id: "profile.t-long", ...base, placement: { hosts: ["localhost"] }, ttl: { default: "10d", max: "14d" } }),
  );
  home = makeHome({ SANDBOXER_PROFILES_DIR: profiles });
  writeFileSync(home.env.SANDBOXER_CONFIG as string, stringify(INVENTORY));
});

afterAll(async () => {
  await home?.cleanup();
  for (const pid of processesIn(work)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  rmSync(work, { recursive: true, force: true });
});

const explain = (args: string[], env = home.env) => runCli(["route", "explain", ...args, "--input", `packer_template=${join(work, "ok")}`, "--json"], env);

describe("--host / SANDBOXER_HOST override the placement", () => {
  it("any inventory host may be named, and the route says it overrode the placement", async () => {
    const r = await explain(["--profile", "profile.t-box1", "--host", "box2"]);
    expect(r.code, r.stderr).toBe(0);
    const plan = r.json<{ host: string; reason: string }>();
    expect(plan.host).toBe("box2");
    expect(plan.reason).toContain("on box2 by --host, overriding the placement (box1)");
    const env = await explain(["--profile", "profile.t-box1"], { ...home.env, SANDBOXER_HOST: "box2" });
    expect(env.json<{ host: string; reason: string }>()).toMatchObject({ host: "box2", reason: expect.stringContaining("by SANDBOXER_HOST") });
    // Without an override: the placement.
    expect((await explain(["--profile", "profile.t-box1"])).json<{ host: string }>().host).toBe("box1");
  });

  it("a locked profile refuses a host outside its placement (either source), naming the field; its own host is fine", async () => {
    const r = await explain(["--profile", "profile.t-locked", "--host", "box2"]);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stderr).error).toMatchObject({
      code: "SBX_HOST_NOT_FOUND",
      message: expect.stringMatching(/^host: 'box2' \(--host\) is refused: profile\.t-locked is locked to its placement \(box1; placement\.locked\)/),
    });
    const env = await explain(["--profile", "profile.t-locked"], { ...home.env, SANDBOXER_HOST: "box2" });
    expect(env.code).toBe(2);
    expect(env.stderr).toContain("(SANDBOXER_HOST) is refused");
    expect((await explain(["--profile", "profile.t-locked", "--host", "box1"])).code).toBe(0);
    // The shipped localhost-only profiles are locked: --host cannot move a bubblewrap sandbox onto an SSH host.
    const local = await runCli(["create", "--profile", "profile.local", "--host", "box1", "--json"], home.env);
    expect(local.code).toBe(2);
    expect(local.stderr).toContain("profile.local is locked to its placement");
    expect((await runCli(["list", "--all", "--json"], home.env)).json<Sandbox[]>()).toEqual([]);
  });

  it("only inventory names are accepted: unknown names, localhost aliases and paths are refused, for the operator and for tenants", async () => {
    for (const bad of ["nowhere", "127.0.0.1", "../box1", "box1 ", "BOX1"]) {
      const r = await explain(["--profile", "profile.t-box1", "--host", bad]);
      expect(r.code, bad).toBe(2);
      expect(JSON.parse(r.stderr).error.code).toBe("SBX_HOST_NOT_FOUND");
    }
    let api: ApiFixture | undefined;
    try {
      api = await apiFixture();
      writeFileSync(api.home.env.SANDBOXER_CONFIG as string, stringify(INVENTORY));
      for (const host of ["nowhere", "127.0.0.1", "box1.invalid"]) {
        const res = await api.call("POST", "/v1/plan", { token: api.tokens.p1, body: { profile: "profile.sandbox-canary", host } });
        expect(res.status, host).toBe(400);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe("SBX_HOST_NOT_FOUND");
      }
      const locked = await api.call("POST", "/v1/plan", { token: api.tokens.p1, body: { profile: "profile.local", host: "box1" } });
      expect(locked.status).toBe(400);
      expect(await locked.text()).toContain("locked to its placement");
    } finally {
      await api?.cleanup();
    }
  });
});

describe("limits.maxTtl of a registration", () => {
  it("an asked-for ttl over it is refused at plan time, naming ttl and the limit; nothing is recorded", async () => {
    const r = await runCli(
      ["create", "--profile", "profile.vm-packer-build", "--ttl", "8d", "--input", `packer_template=${join(work, "ok")}`, "--json"],
      home.env,
    );
    expect(r.code).toBe(2);
    const err = JSON.parse(r.stderr).error;
    expect(err.code).toBe("SBX_TTL_INVALID");
    expect(err.message).toMatch(
      /^ttl: over what profile\.vm-packer-build's extensions allow \(ext\.vm-packer: ttl 8d is over its registration's limits\.maxTtl 7d/,
    );
    expect((await runCli(["list", "--all", "--json"], home.env)).json<Sandbox[]>()).toEqual([]);
    // Within the profile's own max (14d) but the registration's 7d is what counts; 7d itself is fine.
    expect((await explain(["--profile", "profile.vm-packer-build", "--ttl", "7d"])).json<{ ttlSeconds: number }>().ttlSeconds).toBe(7 * D);
  });

  it("a default TTL over it is cut to it", async () => {
    expect((await explain(["--profile", "profile.t-long"])).json<{ ttlSeconds: number }>().ttlSeconds).toBe(7 * D);
  });

  it("extend-ttl cannot take a real build's lifetime past it", { timeout: 120_000 }, async () => {
    const created = await runCli(
      ["create", "--profile", "profile.vm-packer-build", "--ttl", "6d", "--input", `packer_template=${join(work, "ok")}`, "--json"],
      home.env,
      { timeoutMs: 110_000 },
    );
    expect(created.code, created.stderr).toBe(0);
    const sb = created.json<Sandbox>();
    const over = await runCli(["extend-ttl", sb.id, "--duration", "2d", "--json"], home.env);
    expect(over.code).toBe(2);
    expect(JSON.parse(over.stderr).error.message).toContain("over the maximum 7d of ext.vm-packer (limits.maxTtl)");
    expect((await runCli(["extend-ttl", sb.id, "--duration", "1d"], home.env)).code).toBe(0);
    await runCli(["destroy", sb.id], home.env);
  });

  it("routing passes over a candidate whose maxTtl is under the ttl, and says why", () => {
    const reg = (id: string, over: Partial<Registration>): Registration => ({ ...registrationSchema.parse({ id }), file: `extensions/${id}.yaml`, ...over });
    const regs = new Map([
      ["ext.e2b", reg("ext.e2b", { limits: { maxTtl: "24h" } })],
      ["ext.saas-stub", reg("ext.saas-stub", {})],
    ]);
    const p: Profile = {
      ...profileSchema.parse({ id: "profile.t", version: 1, route: { strategy: "explicit", candidates: ["ext.e2b", "ext.saas-stub"] } }),
      file: "t.yaml",
    };
    const d = decideRoute(p, regs, { ttlSeconds: 2 * D, ttlExplicit: true });
    expect(d.chosen).toBe("ext.saas-stub");
    expect(d.rejected).toEqual([{ extension: "ext.e2b", why: "ttl 2d is over its registration's limits.maxTtl 24h (extensions/ext.e2b.yaml)" }]);
    // A default TTL is not a reason to pass a candidate over (it is cut to the limit instead).
    expect(decideRoute(p, regs, { ttlSeconds: 2 * D, ttlExplicit: false }).chosen).toBe("ext.e2b");
    const only = new Map([["ext.e2b", reg("ext.e2b", { limits: { maxTtl: "24h" } })]]);
    expect(() => decideRoute(p, only, { ttlSeconds: 2 * D, ttlExplicit: true })).toThrow(SandboxerError);
  });
});
