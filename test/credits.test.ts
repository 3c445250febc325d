import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatCredits, parseCredits } from "../src/credits/amount.js";
import { accountOf } from "./helpers/store.js";
import type { Sandbox } from "../src/types.js";
import { makeHome, type TestHome } from "./helpers/home.js";
import { buildPrivateCli, type PrivateCli } from "./helpers/private-cli.js";

let cli: PrivateCli;
beforeAll(async () => {
  cli = await buildPrivateCli();
});
afterAll(() => cli?.cleanup());

describe("amounts", () => {
  it("parses and formats micro-credits exactly", () => {
    expect(parseCredits("10")).toBe(10_000_000);
    expect(parseCredits("2.5")).toBe(2_500_000);
    expect(parseCredits("0.000001")).toBe(1);
    expect(formatCredits(2_500_000)).toBe("2.5");
    expect(formatCredits(1)).toBe("0.000001");
    for (const bad of ["-1", "0", "1e3", "abc", "1.0000001", "", "10000000001"]) expect(() => parseCredits(bad)).toThrow(/amount/);
  });
});

describe("credits ledger through the CLI", { timeout: 240_000 }, () => {
  let home: TestHome;
  beforeAll(() => {
    home = makeHome();
  });
  afterAll(async () => {
    await home?.cleanup();
  });

  it("refuses a metered create without credits: exit 4, no record, nothing on the backend", async () => {
    const r = await cli.run(["create", "--profile", "profile.saas-stub"], home.env);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/error \[SBX_INSUFFICIENT_CREDITS\]: .*account 'default' has 0/);
    const list = await cli.run(["list", "--all", "--json"], home.env);
    expect(list.json<Sandbox[]>()).toEqual([]);
    expect(existsSync(join(home.env.SANDBOXER_HOME as string, "saas-stub")) ? readdirSync(join(home.env.SANDBOXER_HOME as string, "saas-stub")) : []).toEqual(
      [],
    );
  });

  it("add, reserve at create, settle per second at destroy, history and export", async () => {
    expect((await cli.run(["credits", "add", "3", "--project", "alpha", "--json"], home.env)).json()).toMatchObject({
      account: "alpha",
      balance: 3,
      available: 3,
    });
    const bad = await cli.run(["credits", "add", "-5"], home.env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/SBX_USAGE/);
    const created = await cli.run(["create", "--profile", "profile.saas-stub", "--project", "alpha", "--ttl", "2h", "--json"], home.env);
    expect(created.code, created.stderr).toBe(0);
    const sb = created.json<Sandbox>();
    expect(sb.cost).toMatchObject({ pricePerHour: 1, reserved: 2 });
    expect((await cli.run(["credits", "show", "--project", "alpha", "--json"], home.env)).json()).toMatchObject({ balance: 3, reserved: 2, available: 1 });
    const destroyed = (await cli.run(["destroy", sb.id, "--json"], home.env)).json<Sandbox>();
    expect(destroyed.state).toBe("destroyed");
    const cost = destroyed.cost as { settled: number; reserved: number; seconds: number };
    expect(cost.settled).toBeGreaterThan(0);
    expect(cost.settled).toBeLessThan(0.01);
    const acct = (await cli.run(["credits", "show", "--project", "alpha", "--json"], home.env)).json<{ balance: number; reserved: number }>();
    expect(acct.reserved).toBe(0);
    expect(acct.balance).toBeCloseTo(3 - cost.settled, 6);
    const events = (await cli.run(["events", sb.id, "--json"], home.env)).json<{ type: string; data: Record<string, unknown> }[]>();
    expect(events.find((e) => e.type === "credits.debited")?.data).toMatchObject({ account: "alpha", amount: cost.settled });
    const hist = (await cli.run(["credits", "history", "--project", "alpha", "--json"], home.env)).json<{ kind: string }[]>();
    expect(hist.map((h) => h.kind)).toEqual(["add", "reserve", "debit", "release"]);
    const exported = await cli.run(["credits", "export", "--since", "2000-01-01"], home.env);
    const lines = exported.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.account === "alpha").map((l) => l.kind)).toEqual(["add", "reserve", "debit", "release"]);
    const none = await cli.run(["credits", "export", "--since", "2999-01-01"], home.env);
    expect(none.stdout).toBe("");
    const badSince = await cli.run(["credits", "export", "--since", "yesterday"], home.env);
    expect(badSince.code).toBe(2);
    expect(badSince.stderr).toMatch(/since/);
  });

  it("a failed provision is not billed and releases its reservation", async () => {
    const broker = home.broker({});
    await broker.addCredits({ account: "beta", amount: 1 });
    const env = { ...home.env, SANDBOXER_SAAS_STUB_FAIL: "ready" };
    const r = await cli.run(["create", "--profile", "profile.saas-stub", "--project", "beta", "--json"], env);
    expect(r.code).toBe(1);
    const failed = await broker.list({ project: "beta", states: ["failed"] });
    expect(failed).toHaveLength(1);
    expect(failed[0]?.cost).toMatchObject({ settled: 0 });
    expect(await accountOf(broker, "beta")).toMatchObject({ balance: 1, reserved: 0, available: 1 });
    expect(readdirSync(join(home.env.SANDBOXER_HOME as string, "saas-stub"))).toEqual([]);
  });
});

describe("credits survive a crash", { timeout: 240_000 }, () => {
  let home: TestHome;
  beforeAll(() => {
    home = makeHome();
  });
  afterAll(async () => {
    await home?.cleanup();
  });

  it("kill -9 while provisioning: reconcile fails the record and releases its reservation; the remote sandbox is removed", async () => {
    expect((await cli.run(["credits", "add", "2", "--project", "crash"], home.env)).code).toBe(0);
    const r = await cli.run(["create", "--profile", "profile.saas-stub", "--project", "crash", "--json"], { ...home.env, SANDBOXER_CRASH_AT: "checkpoint-1" });
    expect(r.code).toBe(137);
    const held = (await cli.run(["credits", "show", "--project", "crash", "--json"], home.env)).json<{ reserved: number }>();
    expect(held.reserved).toBe(1);
    const rec = await cli.run(["reconcile", "--json"], home.env);
    expect(rec.code, rec.stderr).toBe(0);
    const after = (await cli.run(["credits", "show", "--project", "crash", "--json"], home.env)).json();
    expect(after).toMatchObject({ balance: 2, reserved: 0, available: 2 });
    const failed = (await cli.run(["list", "--state", "failed", "--json"], home.env)).json<Sandbox[]>();
    expect(failed).toHaveLength(1);
    expect(readdirSync(join(home.env.SANDBOXER_HOME as string, "saas-stub"))).toEqual([]);
  });
});

describe("balances never go negative under concurrent creates", () => {
  let home: TestHome;
  beforeAll(() => {
    home = makeHome();
  });
  afterAll(async () => {
    await home?.cleanup();
  });

  it("50 concurrent metered creates from separate processes against credits for 10: exactly 10 succeed", { timeout: 300_000 }, async () => {
    // 1 credit/h x 1h TTL = 1 credit per create.
    expect((await cli.run(["credits", "add", "10"], home.env)).code).toBe(0);
    const results = await Promise.all(
      Array.from({ length: 50 }, () => cli.run(["create", "--profile", "profile.saas-stub", "--ttl", "1h", "--json"], home.env, { timeoutMs: 240_000 })),
    );
    const ok = results.filter((r) => r.code === 0);
    const refused = results.filter((r) => r.code === 4);
    expect(ok).toHaveLength(10);
    expect(refused).toHaveLength(40);
    for (const r of refused) expect(r.stderr).toMatch(/SBX_INSUFFICIENT_CREDITS/);
    const broker = home.broker();
    expect((await broker.list({})).length).toBe(10);
    const acct = await accountOf(broker, "default");
    expect(acct).toMatchObject({ balance: 10, reserved: 10, available: 0 });
    // The ledger agrees with the account row at every step.
    for (const e of await broker.creditHistory({ account: "default" })) {
      expect(e.balance).toBeGreaterThanOrEqual(0);
      expect(e.reserved).toBeLessThanOrEqual(e.balance);
    }
    const remote = readdirSync(join(home.env.SANDBOXER_HOME as string, "saas-stub")).map(
      (f) => JSON.parse(readFileSync(join(home.env.SANDBOXER_HOME as string, "saas-stub", f), "utf8")).metadata.sandboxerId,
    );
    expect(remote.sort()).toEqual(ok.map((r) => r.json<Sandbox>().id).sort());
  });
});
