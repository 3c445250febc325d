/**
 * activity-core's flow (docs/integrations/activity-core.md): it asks where an
 * activity can run before it commits to it. `profiles list --json` (by tag),
 * `route explain --json` (the venue that would be chosen, and why each other
 * one is not), then `create` of the same request with an idempotency key: the
 * record's route is the venue the explain named. Nothing is created by asking.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SandboxRecord } from "../../src/api/schemas.js";
import type { Sandbox } from "../../src/types.js";
import { runCli } from "../helpers/cli.js";
import { makeHome, type TestHome } from "../helpers/home.js";
import { recordExample } from "./examples.js";

let home: TestHome;
beforeAll(() => {
  home = makeHome({ SANDBOXER_URL: "" });
});
afterAll(async () => {
  await home?.cleanup();
});

interface Decision {
  profile: string;
  host: string;
  chosen: string;
  strategy: string;
  reason: string;
  rejected: { extension: string; why: string }[];
}

describe("activity-core: ask for a venue, then take it", { timeout: 120_000 }, () => {
  it("profiles by tag -> route explain (creates nothing) -> create lands where the explain said", async () => {
    const profiles = (await runCli(["profiles", "list", "--json"], home.env)).json<{ profiles: { id: string; tags: string[] }[] }>().profiles;
    expect(profiles.find((p) => p.id === "profile.burst-sandbox")).toBeDefined();

    const ask = await runCli(["route", "explain", "--profile", "profile.burst-sandbox", "--project", "activities", "--json"], home.env);
    expect(ask.code, ask.stderr).toBe(0);
    const decision = ask.json<Decision>();
    expect(decision).toMatchObject({ profile: "profile.burst-sandbox", chosen: "ext.local", strategy: "prefer-self-hosted" });
    expect(decision.rejected.map((r) => r.extension)).toContain("ext.saas-stub");
    recordExample("activity-core-venue", decision);
    expect((await runCli(["list", "--all", "--json"], home.env)).json<unknown[]>()).toEqual([]);

    const args = ["create", "--profile", "profile.burst-sandbox", "--project", "activities", "--actor", "atm", "--idempotency-key", "activity-7", "--json"];
    const sb = SandboxRecord.parse((await runCli(args, home.env)).json());
    expect([sb.state, sb.extension, sb.host]).toEqual(["ready", decision.chosen, decision.host]);
    expect(sb.route?.chosen).toBe(decision.chosen);
    recordExample("activity-core-create", sb);
    // The same key again is the same venue, not a second one.
    const again = SandboxRecord.parse((await runCli(args, home.env)).json());
    expect(again.id).toBe(sb.id);
    expect((await runCli(["list", "--json"], home.env)).json<Sandbox[]>().map((s) => s.id)).toEqual([sb.id]);
    expect((await runCli(["destroy", sb.id], home.env)).code).toBe(0);
  });
});
