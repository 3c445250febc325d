import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RouteDecision, Sandbox } from "../src/types.js";
import { makeHome, type TestHome } from "./helpers/home.js";
import { buildPrivateCli, type PrivateCli } from "./helpers/private-cli.js";

let cli: PrivateCli;
let home: TestHome;

beforeAll(async () => {
  cli = await buildPrivateCli();
  home = makeHome();
  writeFileSync(home.env.SANDBOXER_CONFIG as string, "hosts:\n  localhost: { labels: [local], maxSandboxes: 1 }\n");
});
afterAll(async () => {
  await home?.cleanup();
  cli?.cleanup();
});

describe("route explain and routed creates through the CLI", { timeout: 240_000 }, () => {
  it("explains without creating anything (human and --json)", async () => {
    const human = await cli.run(["route", "explain", "--profile", "profile.burst-sandbox"], home.env);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/profile.burst-sandbox: ext.local on localhost \(prefer-self-hosted\)/);
    expect(human.stdout).toMatch(/rejected ext.saas-stub: insufficient credits: needs 1, account 'default' has 0/);
    const json = (await cli.run(["route", "explain", "--profile", "profile.burst-sandbox", "--route", "lowest-latency", "--json"], home.env)).json<
      RouteDecision & { profile: string }
    >();
    expect(json).toMatchObject({ profile: "profile.burst-sandbox", chosen: "ext.local", strategy: "lowest-latency" });
    const list = await cli.run(["list", "--all", "--json"], home.env);
    expect(list.json<Sandbox[]>()).toEqual([]);
  });

  it.each([
    [["route", "explain", "--profile", "profile.burst-sandbox", "--route", "cheapest"], 2, /SBX_USAGE.*route: 'cheapest' is not one of/],
    [["route", "explain", "--profile", "profile.nope"], 2, /SBX_PROFILE_NOT_FOUND/],
    [["route", "explain", "--profile", "profile.burst-sandbox", "--extension", "ext.modal"], 2, /SBX_EXTENSION_NOT_FOUND.*not a candidate/],
    [["route", "explain", "--profile", "profile.burst-sandbox", "--input", "repo=/tmp/$(id)"], 2, /SBX_INPUT_INVALID.*repo/],
    [["route", "frobnicate"], 2, /SBX_USAGE/],
    [["create", "--profile", "profile.saas-stub"], 4, /SBX_INSUFFICIENT_CREDITS/],
  ])("bad request %j -> exit %i", async (args, code, pattern) => {
    const r = await cli.run(args, home.env);
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(pattern);
  });

  it("burst-sandbox: local first, metered when localhost is full, and no capacity at all is exit 4 SBX_NO_CAPACITY", async () => {
    const a = (await cli.run(["create", "--profile", "profile.burst-sandbox", "--json"], home.env)).json<Sandbox>();
    expect(a.extension).toBe("ext.local");
    const full = await cli.run(["create", "--profile", "profile.local"], home.env);
    expect(full.code).toBe(4);
    expect(full.stderr).toMatch(/SBX_NO_CAPACITY.*localhost full \(1\/1\)/);
    expect((await cli.run(["credits", "add", "1"], home.env)).code).toBe(0);
    const b = (await cli.run(["create", "--profile", "profile.burst-sandbox", "--json"], home.env)).json<Sandbox>();
    expect(b.extension).toBe("ext.saas-stub");
    expect(b.route?.rejected).toEqual([{ extension: "ext.local", why: "no host with room: localhost full (1/1)" }]);
    for (const id of [a.id, b.id]) expect((await cli.run(["destroy", id], home.env)).code).toBe(0);
  });

  it("agent-dev: the repository is copied into the workspace; actor and project are on the record", async () => {
    const repo = join(home.dir, "repo");
    mkdirSync(join(repo, "src"), { recursive: true });
    writeFileSync(join(repo, "src", "main.py"), "print('hi')\n");
    const r = await cli.run(["create", "--profile", "profile.agent-dev", "--input", `repo=${repo}`, "--actor", "agt", "--project", "app", "--json"], home.env);
    expect(r.code, r.stderr).toBe(0);
    const sb = r.json<Sandbox>();
    expect(sb).toMatchObject({ actor: "agt", project: "app", extension: "ext.local", inputs: { repo } });
    const ws = String(sb.reachability?.workspace);
    expect(readFileSync(join(ws, "src", "main.py"), "utf8")).toBe("print('hi')\n");
    expect((await cli.run(["destroy", sb.id], home.env)).code).toBe(0);
    expect(existsSync(ws)).toBe(false);
    const missing = await cli.run(["create", "--profile", "profile.agent-dev"], home.env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/SBX_INPUT_MISSING.*repo/);
  });
});
