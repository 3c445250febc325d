/**
 * Warm pools, the pure decisions: pool keys, which inputs shape a member,
 * the pools that exist, what a refill pass does, and how routing ranks a
 * warm member against a cold create (issue 14).
 */
import { describe, expect, it } from "vitest";
import { decideRefill, type PoolDef, perRequestOf, poolDefs, poolKey, shapingOf } from "../src/broker/pools-plan.js";
import { type Profile, profileSchema, type Registration, registrationSchema } from "../src/catalog/schema.js";
import { decideRoute, type RoutingInputs } from "../src/routing/index.js";
import type { PoolRow } from "../src/store/types.js";
import { type Host, LOCALHOST, type SandboxRow } from "../src/types.js";

const profile = (over: Record<string, unknown>): Profile => ({ ...profileSchema.parse({ id: "profile.t", version: 1, ...over }), file: "t.yaml" });
const reg = (id: string, over: Partial<Registration> = {}): Registration => ({ ...registrationSchema.parse({ id }), file: `${id}.yaml`, ...over });

describe("pool keys and shaping inputs", () => {
  it("a key is the profile, plus its shaping inputs sorted and encoded", () => {
    expect(poolKey("profile.a", {})).toBe("profile.a");
    expect(poolKey("profile.a", { z: "1", a: "x y&z" })).toBe("profile.a?a=x%20y%26z&z=1");
    // Order of the given inputs does not matter.
    expect(poolKey("profile.a", { b: "2", a: "1" })).toBe(poolKey("profile.a", { a: "1", b: "2" }));
  });

  it("per-request inputs are those every candidate takes at claim", () => {
    const local = { perRequest: { inputs: ["repo"] } };
    const e2b = { perRequest: { inputs: ["repo", "template"] } };
    const compose = {};
    expect(perRequestOf([local])).toEqual(["repo"]);
    expect(perRequestOf([local, e2b])).toEqual(["repo"]);
    expect(perRequestOf([compose])).toEqual([]);
    expect(perRequestOf([local, compose])).toEqual([]);
    expect(shapingOf({ repo: "/src", mode: "x" }, ["repo"])).toEqual({ mode: "x" });
  });
});

const poolRow = (over: Partial<PoolRow>): PoolRow => ({
  key: "profile.a",
  profile: "profile.a",
  inputs: {},
  size: null,
  maxIdleSeconds: null,
  hits: 0,
  misses: 0,
  shortSince: null,
  lagMsSum: 0,
  lagCount: 0,
  lagMsLast: null,
  updatedAt: "",
  ...over,
});

describe("which pools exist", () => {
  const profiles = new Map<string, Pick<Profile, "id" | "pool">>([
    ["profile.a", { id: "profile.a", pool: { size: 3, maxIdle: "10m" } }],
    ["profile.b", { id: "profile.b", pool: undefined }],
  ]);

  it("a profile's pool, overridden by `pools set`; a drained pool is size 0; a removed profile's row is gone", () => {
    expect(poolDefs(profiles, [])).toEqual([{ key: "profile.a", profile: "profile.a", inputs: {}, size: 3, maxIdleSeconds: 600, source: "profile" }]);
    const rows = [
      poolRow({ size: 5 }),
      poolRow({ key: "profile.b?mode=x", profile: "profile.b", inputs: { mode: "x" }, size: 2, maxIdleSeconds: 60 }),
      poolRow({ key: "profile.gone", profile: "profile.gone", size: 4 }),
    ];
    expect(poolDefs(profiles, rows)).toEqual([
      { key: "profile.a", profile: "profile.a", inputs: {}, size: 5, maxIdleSeconds: 600, source: "set" },
      { key: "profile.b?mode=x", profile: "profile.b", inputs: { mode: "x" }, size: 2, maxIdleSeconds: 60, source: "set" },
    ]);
    expect(poolDefs(profiles, [poolRow({ size: 0 })])[0]).toMatchObject({ size: 0, source: "drained" });
    // A counters-only row (size null) leaves the profile's setting alone.
    expect(poolDefs(profiles, [poolRow({ hits: 7 })])[0]).toMatchObject({ size: 3, source: "profile" });
  });
});

describe("a refill pass", () => {
  const now = new Date("2030-01-01T12:00:00Z");
  const def: PoolDef = { key: "profile.a", profile: "profile.a", inputs: {}, size: 3, maxIdleSeconds: 600, source: "set" };
  let n = 0;
  const member = (over: Partial<SandboxRow>): SandboxRow =>
    ({
      id: `sbx-m${n++}`,
      state: "ready",
      pool: "profile.a",
      poolStage: "warm",
      profileVersion: 2,
      readyAt: "2030-01-01T11:59:00Z",
      ownerPid: null,
      ownerStart: null,
      ...over,
    }) as SandboxRow;
  const alive = () => true;

  const cases: { name: string; def?: PoolDef; members: Partial<SandboxRow>[]; perPool?: number; destroy: string[]; create: number; short: number }[] = [
    { name: "an empty pool starts one create (one at a time by default)", members: [], destroy: [], create: 1, short: 2 },
    { name: "perPool 3 starts the whole deficit", members: [], perPool: 3, destroy: [], create: 3, short: 0 },
    { name: "a refill in flight counts: none more by default", members: [{ state: "provisioning", poolStage: "warming" }], destroy: [], create: 0, short: 2 },
    { name: "a full pool does nothing", members: [{}, {}, {}], destroy: [], create: 0, short: 0 },
    { name: "idle past maxIdle: destroyed and replaced", members: [{ readyAt: "2030-01-01T11:40:00Z" }, {}, {}], destroy: ["idle"], create: 1, short: 0 },
    { name: "an old profile version: destroyed and replaced", members: [{ profileVersion: 1 }, {}, {}], destroy: ["version 1"], create: 1, short: 0 },
    { name: "beyond the size: the newest go", members: [{}, {}, {}, { readyAt: "2030-01-01T11:59:30Z" }], destroy: ["beyond"], create: 0, short: 0 },
    {
      name: "drained: every warm member goes, nothing is made",
      def: { ...def, size: 0, source: "drained" },
      members: [{}, {}],
      destroy: ["drained", "drained"],
      create: 0,
      short: 0,
    },
    { name: "a pool that no longer exists: its members go", def: undefined, members: [{}], destroy: ["no longer"], create: 0, short: 0 },
    {
      name: "claimed members are the claim's, not the refill's",
      members: [{ poolStage: "claimed" }, { poolStage: "applying" }],
      destroy: [],
      create: 1,
      short: 2,
    },
  ];

  it.each(cases)("$name", (c) => {
    const d = decideRefill("def" in c ? c.def : def, c.members.map(member), 2, now, c.perPool ?? 1, alive);
    expect(d.destroy.map((x) => x.why)).toEqual(c.destroy.map((w) => expect.stringContaining(w)));
    expect({ create: d.create, short: d.short }).toEqual({ create: c.create, short: c.short });
  });

  it("a warming member whose refill died is not counted (reconcile cleans it up)", () => {
    const d = decideRefill(def, [member({ state: "provisioning", poolStage: "warming", ownerPid: 1 })], 2, now, 1, () => false);
    expect(d.create).toBe(1);
  });
});

describe("routing knows pools", () => {
  const regs = new Map<string, Registration>([
    ["ext.local", reg("ext.local", { pricePerHour: 0, expectedReadySeconds: 0.05 })],
    ["ext.compose-ssh", reg("ext.compose-ssh", { pricePerHour: 0, expectedReadySeconds: 5 })],
    ["ext.e2b", reg("ext.e2b", { pricePerHour: 0.4, expectedReadySeconds: 0.3 })],
  ]);
  const hosts = new Map<string, Host>([
    ["localhost", { ...LOCALHOST, maxSandboxes: 2 }],
    ["box1", { name: "box1", labels: [], ssh: { host: "127.0.0.1" } }],
  ]);
  const base = (over: Partial<RoutingInputs> = {}): RoutingInputs => ({
    extensions: new Map([
      ["ext.local", { kind: "self-hosted", capabilities: {} }],
      ["ext.compose-ssh", { kind: "self-hosted", capabilities: {} }],
      ["ext.e2b", { kind: "metered", capabilities: {} }],
    ]),
    readyStats: new Map(),
    liveByExtension: new Map(),
    liveByHost: new Map(),
    hosts,
    downHosts: new Map(),
    creditsAvailable: new Map([["default", 100_000_000]]),
    ...over,
  });
  const burst = profile({ route: { strategy: "prefer-self-hosted", candidates: ["ext.local", "ext.e2b"] } });
  const latency = profile({ route: { strategy: "lowest-latency", candidates: ["ext.compose-ssh", "ext.e2b"] }, placement: { hosts: ["box1"] } });
  const cheap = profile({ route: { strategy: "lowest-cost", candidates: ["ext.e2b", "ext.local"] } });

  const cases: { name: string; p: Profile; inp: RoutingInputs; chosen: string; reason: RegExp; host?: string }[] = [
    { name: "prefer-self-hosted: no warm member, self-hosted first", p: burst, inp: base(), chosen: "ext.local", reason: /self-hosted with room/ },
    {
      name: "prefer-self-hosted: a warm metered member beats a cold self-hosted create",
      p: burst,
      inp: base({ warm: new Map([["ext.e2b@localhost", 2]]) }),
      chosen: "ext.e2b",
      reason: /ext\.e2b has 2 warm pool member\(s\).*a claim beats a cold create on ext\.local/,
    },
    {
      name: "prefer-self-hosted: a warm member on a full host still serves (it holds its place already)",
      p: burst,
      inp: base({ warm: new Map([["ext.local@localhost", 1]]), liveByHost: new Map([["localhost", 2]]) }),
      chosen: "ext.local",
      reason: /ext\.local has 1 warm pool member/,
      host: "localhost",
    },
    {
      name: "lowest-latency: a warm compose stack beats a faster cold vendor",
      p: latency,
      inp: base({ warm: new Map([["ext.compose-ssh@box1", 1]]) }),
      chosen: "ext.compose-ssh",
      reason: /lowest-latency: ext\.compose-ssh has 1 warm/,
      host: "box1",
    },
    { name: "lowest-latency without pools: the vendor's 0.3s beats compose's 5s", p: latency, inp: base(), chosen: "ext.e2b", reason: /fastest/ },
    {
      name: "lowest-cost: price still decides; a warm member on the dearer candidate does not serve",
      p: cheap,
      inp: base({ warm: new Map([["ext.e2b@localhost", 3]]) }),
      chosen: "ext.local",
      reason: /cheapest/,
    },
  ];

  it.each(cases)("$name", (c) => {
    const d = decideRoute(c.p, regs, {}, c.inp);
    expect(d.chosen).toBe(c.chosen);
    expect(d.reason).toMatch(c.reason);
    if (c.host) expect(d.host).toBe(c.host);
    const warmEstimate = d.estimates?.find((e) => e.warm);
    if (warmEstimate) expect(warmEstimate).toMatchObject({ readySeconds: 0, readySource: expect.stringMatching(/^warm pool/) });
  });

  it("a warm member does not get around credits", () => {
    const d = decideRoute(burst, regs, { ttlSeconds: 3600 }, base({ warm: new Map([["ext.e2b@localhost", 1]]), creditsAvailable: new Map() }));
    expect(d.chosen).toBe("ext.local");
    expect(d.rejected).toContainEqual({ extension: "ext.e2b", why: expect.stringContaining("insufficient credits") });
  });
});
