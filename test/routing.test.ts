import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Profile, profileSchema, type Registration, registrationSchema } from "../src/catalog/schema.js";
import { SandboxerError } from "../src/errors.js";
import { decideRoute, type RoutingInputs } from "../src/routing/index.js";
import { contextFor } from "../src/broker/internal.js";
import { readRoutingStats } from "../src/broker/routing-inputs.js";
import { median } from "../src/routing/inputs.js";
import { type Host, LOCALHOST, systemClock } from "../src/types.js";
import { makeHome, type TestHome } from "./helpers/home.js";
import { accountOf, openStore } from "./helpers/store.js";

const reg = (id: string, over: Partial<Registration> = {}): Registration => ({ ...registrationSchema.parse({ id }), file: `${id}.yaml`, ...over });
const profile = (over: Record<string, unknown>): Profile => ({ ...profileSchema.parse({ id: "profile.t", version: 1, ...over }), file: "t.yaml" });

const REGS = new Map<string, Registration>([
  ["ext.local", reg("ext.local", { pricePerHour: 0, expectedReadySeconds: 0.05 })],
  ["ext.compose-ssh", reg("ext.compose-ssh", { pricePerHour: 0, expectedReadySeconds: 8 })],
  ["ext.saas-stub", reg("ext.saas-stub", { pricePerHour: 1, expectedReadySeconds: 0.5, limits: { maxSandboxes: 1000 } })],
  ["ext.e2b", reg("ext.e2b", { pricePerHour: 0.4, expectedReadySeconds: 0.3 })],
  ["ext.modal", reg("ext.modal", { pricePerHour: 2, expectedReadySeconds: 3 })],
  ["ext.off", reg("ext.off", { enabled: false })],
]);

const KINDS: Record<string, "self-hosted" | "metered"> = {
  "ext.local": "self-hosted",
  "ext.compose-ssh": "self-hosted",
  "ext.saas-stub": "metered",
  "ext.e2b": "metered",
  "ext.modal": "metered",
  "ext.off": "metered",
};

function inputs(over: Partial<{ [K in keyof RoutingInputs]: RoutingInputs[K] }> = {}): RoutingInputs {
  const hosts = new Map<string, Host>([
    ["localhost", { ...LOCALHOST, maxSandboxes: 2 }],
    ["box1", { name: "box1", labels: [], ssh: { host: "127.0.0.1" }, maxSandboxes: 5 }],
  ]);
  return {
    extensions: new Map(Object.entries(KINDS).map(([id, kind]) => [id, { kind, capabilities: { gpu: id === "ext.modal" } }])),
    readyStats: new Map(),
    liveByExtension: new Map(),
    liveByHost: new Map(),
    hosts,
    downHosts: new Map(),
    creditsAvailable: new Map([["default", 100_000_000]]),
    ...over,
  };
}

const burst = profile({ route: { strategy: "prefer-self-hosted", candidates: ["ext.local", "ext.saas-stub", "ext.e2b"] } });
const anyHost = profile({ route: { strategy: "prefer-self-hosted", candidates: ["ext.compose-ssh", "ext.e2b"] }, placement: { hosts: ["box1", "localhost"] } });
const all = profile({ route: { strategy: "lowest-cost", candidates: ["ext.saas-stub", "ext.e2b", "ext.local", "ext.modal"] } });

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return "ok";
  } catch (err) {
    if (err instanceof SandboxerError) return err.code;
    throw err;
  }
}

describe("routing table", () => {
  const cases: {
    name: string;
    p: Profile;
    req?: Parameters<typeof decideRoute>[2];
    inp?: RoutingInputs;
    chosen: string;
    order?: string[];
    rejected?: string[];
  }[] = [
    { name: "prefer-self-hosted: local while there is room", p: burst, inp: inputs(), chosen: "ext.local", order: ["ext.local", "ext.saas-stub", "ext.e2b"] },
    {
      name: "prefer-self-hosted: bursts when localhost is full",
      p: burst,
      inp: inputs({ liveByHost: new Map([["localhost", 2]]) }),
      chosen: "ext.saas-stub",
      rejected: ["ext.local"],
    },
    {
      name: "prefer-self-hosted: bursts when the host is down",
      p: burst,
      inp: inputs({ downHosts: new Map([["localhost", "unreachable"]]) }),
      chosen: "ext.saas-stub",
      rejected: ["ext.local"],
    },
    {
      name: "prefer-self-hosted: skips a full host for one with room",
      p: anyHost,
      inp: inputs({ liveByHost: new Map([["box1", 5]]) }),
      chosen: "ext.compose-ssh",
    },
    {
      name: "registration limit counts live sandboxes",
      p: burst,
      inp: inputs({ liveByExtension: new Map([["ext.saas-stub", 1000]]), liveByHost: new Map([["localhost", 2]]) }),
      chosen: "ext.e2b",
    },
    { name: "lowest-cost: the free one", p: all, inp: inputs(), chosen: "ext.local", order: ["ext.local", "ext.e2b", "ext.saas-stub", "ext.modal"] },
    { name: "lowest-latency: registration estimates", p: all, req: { strategy: "lowest-latency" }, inp: inputs(), chosen: "ext.local" },
    {
      name: "lowest-latency: measured p50 beats the estimate",
      p: all,
      req: { strategy: "lowest-latency" },
      inp: inputs({ readyStats: new Map([["ext.local@localhost", { p50Seconds: 4, samples: 10 }]]) }),
      chosen: "ext.e2b",
    },
    {
      name: "lowest-latency: too few samples keep the estimate",
      p: all,
      req: { strategy: "lowest-latency" },
      inp: inputs({ readyStats: new Map([["ext.local@localhost", { p50Seconds: 4, samples: 2 }]]) }),
      chosen: "ext.local",
    },
    {
      name: "explicit: --extension pins",
      p: all,
      req: { extension: "ext.modal" },
      inp: inputs(),
      chosen: "ext.modal",
      rejected: ["ext.saas-stub", "ext.e2b", "ext.local"],
    },
    { name: "explicit strategy: listed order", p: all, req: { strategy: "explicit" }, inp: inputs(), chosen: "ext.saas-stub" },
    {
      name: "credits: metered candidates the account cannot cover are rejected",
      p: all,
      req: { ttlSeconds: 3600, strategy: "explicit" },
      inp: inputs({ creditsAvailable: new Map([["default", 500_000]]) }),
      chosen: "ext.e2b",
      rejected: ["ext.saas-stub", "ext.modal"],
    },
    {
      name: "credits are per project",
      p: all,
      req: { ttlSeconds: 3600, strategy: "explicit", project: "rich" },
      inp: inputs({ creditsAvailable: new Map([["rich", 10_000_000]]) }),
      chosen: "ext.saas-stub",
    },
    {
      name: "capability: gpu",
      p: profile({ route: { strategy: "lowest-cost", candidates: ["ext.e2b", "ext.modal"] }, settings: { requires: ["gpu"] } }),
      inp: inputs(),
      chosen: "ext.modal",
      rejected: ["ext.e2b"],
    },
    {
      name: "disabled registration",
      p: profile({ route: { strategy: "explicit", candidates: ["ext.off", "ext.e2b"] } }),
      inp: inputs(),
      chosen: "ext.e2b",
      rejected: ["ext.off"],
    },
    { name: "no inputs: registrations only (old behaviour)", p: burst, chosen: "ext.local" },
  ];
  it.each(cases)("$name", ({ p, req, inp, chosen, order, rejected }) => {
    const d = decideRoute(p, REGS, req ?? {}, inp);
    expect(d.chosen).toBe(chosen);
    if (order) expect(d.order).toEqual(order);
    if (rejected) expect(d.rejected.map((r) => r.extension).sort()).toEqual([...rejected].sort());
    expect(d.reason).toContain(chosen);
    for (const r of d.rejected) expect(r.why.length).toBeGreaterThan(5);
  });

  it("says why when nothing is usable, with the code that fits", () => {
    const full = inputs({ liveByHost: new Map([["localhost", 2]]), creditsAvailable: new Map() });
    expect(codeOf(() => decideRoute(burst, REGS, { ttlSeconds: 3600 }, full))).toBe("SBX_INSUFFICIENT_CREDITS");
    const one = profile({ extension: "ext.local" });
    expect(codeOf(() => decideRoute(one, REGS, {}, inputs({ liveByHost: new Map([["localhost", 2]]) })))).toBe("SBX_NO_CAPACITY");
    expect(codeOf(() => decideRoute(profile({ extension: "ext.off" }), REGS, {}, inputs()))).toBe("SBX_EXTENSION_DISABLED");
    expect(codeOf(() => decideRoute(burst, REGS, { strategy: "cheapest" }, inputs()))).toBe("SBX_USAGE");
    expect(codeOf(() => decideRoute(burst, REGS, { extension: "ext.modal" }, inputs()))).toBe("SBX_EXTENSION_NOT_FOUND");
    try {
      decideRoute(burst, REGS, { ttlSeconds: 3600 }, full);
    } catch (err) {
      expect((err as Error).message).toMatch(/ext.local: no host with room: localhost full \(2\/2\)/);
      expect((err as Error).message).toMatch(/ext.saas-stub: insufficient credits: needs 1, account 'default' has 0/);
    }
  });

  it("median", () => {
    expect(median([])).toBe(0);
    expect(median([1])).toBe(1);
    expect(median([1, 2, 3, 10])).toBe(2.5);
  });
});

describe("routing against the store and real backends", () => {
  let home: TestHome;
  const profilesDir = () => join(home.dir, "profiles");

  beforeAll(() => {
    home = makeHome();
    mkdirSync(profilesDir(), { recursive: true });
    home.env.SANDBOXER_PROFILES_DIR = profilesDir();
    // localhost holds one self-hosted sandbox at a time: the second burst create must go metered.
    writeFileSync(home.env.SANDBOXER_CONFIG as string, "hosts:\n  localhost: { labels: [local], maxSandboxes: 1 }\n");
    writeFileSync(
      join(profilesDir(), "profile.stub-first.yaml"),
      "id: profile.stub-first\nversion: 1\nroute: { strategy: explicit, candidates: [ext.saas-stub, ext.local] }\nplacement: { hosts: [localhost] }\nttl: { default: 1h, max: 2h }\n",
    );
  });
  afterAll(async () => {
    await home?.cleanup();
  });

  it("burst-sandbox: local first, metered when localhost is full; the decision is on the record", async () => {
    const broker = home.broker();
    await broker.addCredits({ account: "default", amount: 5 });
    const a = await broker.create({ profile: "profile.burst-sandbox" });
    expect(a.extension).toBe("ext.local");
    expect(a.route?.strategy).toBe("prefer-self-hosted");
    const explained = await broker.plan({ profile: "profile.burst-sandbox" });
    expect(explained.route.chosen).toBe("ext.saas-stub");
    expect(explained.route.rejected).toEqual([{ extension: "ext.local", why: "no host with room: localhost full (1/1)" }]);
    const b = await broker.create({ profile: "profile.burst-sandbox" });
    expect(b.extension).toBe("ext.saas-stub");
    expect(b.route?.reason).toMatch(/bursting to metered ext.saas-stub/);
    expect(b.cost?.reserved).toBe(1);
    await broker.destroy(a.id);
    await broker.destroy(b.id);
    const c = await broker.create({ profile: "profile.burst-sandbox" });
    expect(c.extension).toBe("ext.local");
    await broker.destroy(c.id);
  });

  it("a retryable provision failure moves the record to the next candidate and records the attempt", async () => {
    const broker = home.broker();
    const env = { ...home.env, SANDBOXER_SAAS_STUB_FAIL: "provision" };
    const failing = (await import("../src/broker.js")).createBroker({ env });
    try {
      const before = await accountOf(broker, "default");
      const sb = await failing.create({ profile: "profile.stub-first" });
      expect(sb.state).toBe("ready");
      expect(sb.extension).toBe("ext.local");
      expect(sb.route?.attempts).toEqual([expect.objectContaining({ extension: "ext.saas-stub", code: "SBX_PROVISION_FAILED" })]);
      const types = (await failing.events({ sandboxId: sb.id })).map((e) => e.type);
      expect(types).toContain("sandbox.route_failover");
      // The metered reservation was released when the record moved to the free backend.
      const after = await accountOf(broker, "default");
      expect(after.reserved).toBe(before.reserved);
      expect(sb.cost?.reserved).toBe(0);
      // Nothing of the failed attempt is left on the stub backend.
      const stub = await (await import("../src/extensions/index.js")).loadExtension("ext.saas-stub");
      const { ctx } = await contextFor(failing, sb.id);
      expect((await stub.list?.(ctx))?.map((r) => r.sandboxId)).not.toContain(sb.id);
      await failing.destroy(sb.id);
    } finally {
      await failing.close();
    }
  });

  it("measures time-to-ready from the store for lowest-latency", async () => {
    const store = openStore(home.env);
    const stats = await readRoutingStats(
      store,
      systemClock,
      [
        ["ext.local", "localhost"],
        ["ext.saas-stub", "localhost"],
      ],
      new Set(["ext.saas-stub"]),
    ).finally(() => store.close());
    expect(stats.readyStats.get("ext.local@localhost")?.samples).toBeGreaterThanOrEqual(2);
    expect(stats.readyStats.get("ext.local@localhost")?.p50Seconds).toBeGreaterThan(0);
    expect(stats.liveByHost.get("localhost") ?? 0).toBe(0);
  });

  it("route explain prints the decision and creates nothing", async () => {
    const broker = home.broker();
    const n = (await broker.list()).length;
    const plan = await broker.plan({ profile: "profile.burst-sandbox", route: "lowest-cost" });
    expect(plan.route.strategy).toBe("lowest-cost");
    expect(plan.route.chosen).toBe("ext.local");
    expect((await broker.list()).length).toBe(n);
  });
});
