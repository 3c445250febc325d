import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Broker } from "../src/broker.js";
import type { SandboxerError } from "../src/errors.js";
import { createReaper } from "../src/reaper.js";
import { decideExtend, isExpired, nextWakeMs } from "../src/ttl/policy.js";
import type { Clock, Sandbox } from "../src/types.js";
import { runCli, spawnCli } from "./helpers/cli.js";
import { makeHome, type TestHome } from "./helpers/home.js";
import { walkTo } from "./helpers/store.js";

const H = 3600;
const at = (iso: string) => new Date(iso);

function fakeClock(start: string): Clock & { advance(seconds: number): void } {
  let t = Date.parse(start);
  return {
    now: () => new Date(t),
    advance(s) {
      t += s * 1000;
    },
  };
}

describe("TTL policy (pure, fake clock)", () => {
  const sb = {
    id: "sbx-aaaaaaaaaaaa",
    profile: "profile.local",
    state: "ready" as const,
    createdAt: "2026-01-01T00:00:00.000Z",
    expiresAt: "2026-01-01T01:00:00.000Z",
  };

  it("extends from the current expiry, counting the lifetime from createdAt", () => {
    expect(decideExtend(sb, 2 * H, 24 * H, at("2026-01-01T00:30:00Z"))).toEqual({
      expiresAt: "2026-01-01T03:00:00.000Z",
      ttlSeconds: 3 * H,
      addedSeconds: 2 * H,
    });
  });

  it("extends from now when the expiry already passed (the reaper has not acted yet)", () => {
    expect(decideExtend(sb, H, 24 * H, at("2026-01-01T05:00:00Z")).expiresAt).toBe("2026-01-01T06:00:00.000Z");
  });

  it("refuses to go past the profile maximum, naming the field and the room left", () => {
    const err = (() => {
      try {
        decideExtend(sb, 30 * H, 24 * H, at("2026-01-01T00:30:00Z"));
      } catch (e) {
        return e as SandboxerError;
      }
    })();
    expect(err?.code).toBe("SBX_TTL_INVALID");
    expect(err?.exitCode).toBe(2);
    expect(err?.message).toMatch(
      /^duration: extending sbx-aaaaaaaaaaaa by 30h would give it a lifetime of 30h30m|^duration: extending sbx-aaaaaaaaaaaa by 30h/,
    );
    expect(err?.message).toContain("at most 23h more is allowed");
    expect(err?.details).toMatchObject({ field: "duration", roomSeconds: 23 * H });
    // Exactly to the maximum is fine.
    expect(decideExtend(sb, 23 * H, 24 * H, at("2026-01-01T00:30:00Z")).ttlSeconds).toBe(24 * H);
  });

  it("refuses sandboxes that are already going away", () => {
    for (const state of ["destroying", "destroyed", "failed", "destroy_failed"] as const) {
      expect(() => decideExtend({ ...sb, state }, H, 24 * H, at("2026-01-01T00:30:00Z"))).toThrow(/only a live sandbox's TTL can be extended/);
    }
  });

  it("expired = ready with an expiry at or before now; the reaper wakes at the next expiry", () => {
    expect(isExpired(sb, at("2026-01-01T00:59:59Z"))).toBe(false);
    expect(isExpired(sb, at("2026-01-01T01:00:00Z"))).toBe(true);
    expect(isExpired({ ...sb, state: "destroy_failed" }, at("2026-01-01T02:00:00Z"))).toBe(false);
    const now = at("2026-01-01T00:59:00Z");
    expect(nextWakeMs([sb], now, 30_000)).toBe(30_000);
    expect(nextWakeMs([sb], at("2026-01-01T00:59:50Z"), 30_000)).toBe(10_000);
    expect(nextWakeMs([{ ...sb, expiresAt: "2025-01-01T00:00:00.000Z" }], now, 30_000)).toBe(0);
  });
});

describe("TTL on real bwrap sandboxes", () => {
  let home: TestHome;
  const clock = fakeClock("2026-03-01T12:00:00.000Z");
  let broker: Broker;

  beforeAll(() => {
    home = makeHome();
    broker = home.broker({ clock });
  });
  afterAll(async () => {
    await home.cleanup();
  });

  it("fake clock: extend-ttl moves the expiry; the reaper destroys on expiry with reason ttl and one sandbox.expired", async () => {
    const sb = await broker.create({ profile: "profile.local", ttl: "1h" });
    expect(sb.expiresAt).toBe("2026-03-01T13:00:00.000Z");
    const ext = await broker.extendTtl(sb.id, "30m");
    expect(ext.expiresAt).toBe("2026-03-01T13:30:00.000Z");
    expect(ext.ttlSeconds).toBe(5400);
    expect((await broker.events({ sandboxId: sb.id })).filter((e) => e.type === "sandbox.ttl_extended")).toHaveLength(1);
    await expect(broker.extendTtl(sb.id, "23h")).rejects.toMatchObject({ code: "SBX_TTL_INVALID" });

    const reaper = createReaper(broker, { intervalMs: 60_000, reconcile: false });
    clock.advance(H);
    let pass = await reaper.tick();
    expect(pass.acted).toBe(true);
    expect(pass.expired?.destroyed).toEqual([]);
    // 30 minutes to the next expiry: the interval (1 min) bounds the sleep.
    expect(pass.nextInMs).toBe(60_000);
    clock.advance(29 * 60 + 59);
    expect((await broker.expire()).expired).toEqual([]);
    clock.advance(1);
    expect((await broker.expire()).expired.map((s) => s.id)).toEqual([sb.id]);
    pass = await reaper.tick();
    expect(pass.expired?.destroyed).toEqual([sb.id]);
    const after = await broker.get(sb.id);
    expect(after).toMatchObject({ state: "destroyed", reason: "ttl" });
    const types = (await broker.events({ sandboxId: sb.id })).map((e) => e.type);
    expect(types.filter((t) => t === "sandbox.expired")).toHaveLength(1);
    expect(types.slice(-3)).toEqual(["sandbox.destroying", "sandbox.expired", "sandbox.destroyed"]);
    await broker.releaseLease("reaper", reaper.holder);
  });

  it("fake clock: a second reaper stands by while the lease is held, and takes over once it lapses", async () => {
    const a = createReaper(broker, { holder: "reaper-a", leaseMs: 60_000, reconcile: false });
    const b = createReaper(broker, { holder: "reaper-b", leaseMs: 60_000, reconcile: false });
    expect((await a.tick()).acted).toBe(true);
    const standby = await b.tick();
    expect(standby).toMatchObject({ acted: false, heldBy: "reaper-a" });
    clock.advance(61);
    expect((await b.tick()).acted).toBe(true);
    expect((await a.tick()).acted).toBe(false);
    await broker.releaseLease("reaper", "reaper-b");
  });

  it("the reaper retries destroy_failed records", async () => {
    const sb = await broker.create({ profile: "profile.local" });
    // A teardown that failed earlier: the record says destroy_failed, the sandbox still runs.
    await walkTo(home.env, sb.id, "destroy_failed", { reason: "user", error: { code: "SBX_TEARDOWN_FAILED", message: "simulated" } });
    const pass = await createReaper(broker, { holder: "reaper-c", reconcile: false }).tick();
    expect(pass.retried?.destroyed).toEqual([sb.id]);
    expect(await broker.get(sb.id)).toMatchObject({ state: "destroyed", reason: "user" });
    await broker.releaseLease("reaper", "reaper-c");
  });
});

describe("TTL through the CLI, real clock", () => {
  let home: TestHome;
  beforeAll(() => {
    home = makeHome();
  });
  afterAll(async () => {
    await home.cleanup();
  });

  const createWithTtl = async (ttl: string) => {
    const r = await runCli(["create", "--profile", "profile.local", "--ttl", ttl, "--json"], home.env);
    expect(r.code, r.stderr).toBe(0);
    return r.json<Sandbox>();
  };
  const waitPast = async (iso: string | null) => {
    while (Date.now() <= Date.parse(iso ?? "")) await new Promise((r) => setTimeout(r, 100));
  };

  it("--ttl 2s: listed by expire once past, destroyed by expire --apply with reason ttl", async () => {
    const sb = await createWithTtl("2s");
    const over = await runCli(["create", "--profile", "profile.local", "--ttl", "25h"], home.env);
    expect(over.code).toBe(2);
    expect(over.stderr).toMatch(/^error \[SBX_TTL_INVALID\]: ttl: 25h is over the maximum 24h/);
    await waitPast(sb.expiresAt);
    const listed = await runCli(["expire", "--json"], home.env);
    expect(listed.json<{ expired: Sandbox[] }>().expired.map((s) => s.id)).toEqual([sb.id]);
    expect((await runCli(["get", sb.id, "--json"], home.env)).json<Sandbox>().state).toBe("ready");
    const applied = await runCli(["expire", "--apply", "--json"], home.env);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.json<{ destroyed: string[] }>().destroyed).toEqual([sb.id]);
    expect((await runCli(["get", sb.id, "--json"], home.env)).json<Sandbox>()).toMatchObject({ state: "destroyed", reason: "ttl" });
  });

  it("extend-ttl: usage errors exit 2 naming the field", async () => {
    const sb = await createWithTtl("1h");
    const over = await runCli(["extend-ttl", sb.id, "--duration", "30h"], home.env);
    expect(over.code).toBe(2);
    expect(over.stderr).toMatch(/^error \[SBX_TTL_INVALID\]: duration: /);
    expect((await runCli(["extend-ttl", sb.id], home.env)).stderr).toMatch(/SBX_USAGE.*--duration/);
    expect((await runCli(["extend-ttl", "sbx-aaaaaaaaaaaa", "--duration", "1h"], home.env)).code).toBe(3);
    const ok = await runCli(["extend-ttl", sb.id, "--duration", "2h", "--json"], home.env);
    expect(ok.json<Sandbox>().ttlSeconds).toBe(3 * H);
    await runCli(["destroy", sb.id], home.env);
  });

  it("two reapers at once: every expired sandbox is destroyed exactly once (counted in events)", async () => {
    const made = await Promise.all([createWithTtl("1s"), createWithTtl("1s"), createWithTtl("1s")]);
    await waitPast(
      made
        .map((s) => s.expiresAt ?? "")
        .sort()
        .at(-1) ?? null,
    );
    // Two daemons plus a one-shot racing the same store.
    const daemons = [spawnCli(["reaper", "--interval", "1s", "--json"], home.env), spawnCli(["reaper", "--interval", "1s", "--json"], home.env)];
    const once = await runCli(["reaper", "--once", "--json"], home.env);
    expect([0, 1]).toContain(once.code);
    const broker = home.broker();
    while ((await broker.list({ states: ["ready", "destroying"] })).some((s) => made.some((m) => m.id === s.id))) await new Promise((r) => setTimeout(r, 100));
    const stopped = daemons.map((d) => new Promise<number | null>((r) => d.on("close", (code) => r(code))));
    for (const d of daemons) d.kill("SIGTERM");
    expect(await Promise.all(stopped)).toEqual([0, 0]);
    const events = await broker.events({ limit: 100000 });
    for (const sb of made) {
      const of = (type: string) => events.filter((e) => e.sandboxId === sb.id && e.type === type).length;
      expect(of("sandbox.expired")).toBe(1);
      expect(of("sandbox.destroying")).toBe(1);
      expect(of("sandbox.destroyed")).toBe(1);
      expect(await broker.get(sb.id)).toMatchObject({ state: "destroyed", reason: "ttl" });
    }
    // Stopped cleanly: the lease row is gone.
    expect(await broker.leaseHolder("reaper")).toBeNull();
  });
});
