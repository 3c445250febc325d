/**
 * Warm pools of compose stacks over the loopback sshd with real
 * podman-compose (issue 14): a stack started from the same inputs is
 * claimed with no SSH round trip at all; other inputs are another pool (or
 * none); members are hidden; drain takes their containers down.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Broker } from "../src/broker.js";
import { type ComposeEnv, startComposeEnv } from "./helpers/compose-env.js";
import { makeHome, type TestHome } from "./helpers/home.js";

describe("warm pools on ext.compose-ssh", { timeout: 240_000 }, () => {
  let f: ComposeEnv;
  let home: TestHome;
  let broker: Broker;
  beforeAll(async () => {
    f = await startComposeEnv();
    home = makeHome(f.env);
    broker = home.broker();
  }, 240_000);
  afterAll(async () => {
    await home?.cleanup();
    await f?.stop();
  });

  it("a pool keyed by the stack's inputs: refill starts it, a create with the same inputs claims it without touching SSH", async () => {
    const set = await broker.setPool({ profile: "profile.compose-test", size: 1, inputs: { repo: f.repo } });
    expect(set.key).toBe(`profile.compose-test?repo=${encodeURIComponent(f.repo)}`);
    const r = await broker.refillPools();
    const created = r.pools.find((p) => p.key === set.key)?.created ?? [];
    expect(created, JSON.stringify(r)).toHaveLength(1);
    const member = created[0] as string;
    expect(f.containersOf(member)).toHaveLength(2);
    expect(await broker.list()).toEqual([]);
    await expect(broker.get(member)).rejects.toMatchObject({ code: "SBX_NOT_FOUND" });
    expect((await broker.plan({ profile: "profile.compose-test", inputs: { repo: f.repo } })).route.pool).toMatchObject({
      key: set.key,
      warm: { "ext.compose-ssh": 1 },
    });

    const handshakes = f.host1.handshakes() + f.host2.handshakes();
    const sb = await broker.create({ profile: "profile.compose-test", inputs: { repo: f.repo }, actor: "agt", project: "web" });
    expect(sb.id).toBe(member);
    expect(sb).toMatchObject({ state: "ready", project: "web", route: { pool: { served: true } } });
    expect(f.host1.handshakes() + f.host2.handshakes()).toBe(handshakes);
    // It is the stack: its web service answers.
    const url = (sb.reachability as { urls: string[] }).urls[0] as string;
    expect(await fetch(url).then((x) => x.text())).toContain("sandboxer test");
    expect((await broker.list()).map((s) => s.id)).toEqual([sb.id]);
    await broker.destroy(sb.id);
    expect(f.containersOf(sb.id)).toEqual([]);
  });

  it("another stack is not served by this pool: it is created cold, and the pool's count is untouched", async () => {
    const other = f.writeRepo("other", `services:\n  app:\n    image: ${f.podman.image}\n    command: ["sleep", "3600"]\n    stop_signal: SIGKILL\n`);
    const before = (await broker.pools())[0];
    const sb = await broker.create({ profile: "profile.compose-test", inputs: { repo: other } });
    expect(sb.route?.pool).toBeUndefined();
    expect((await broker.pools())[0]).toMatchObject({ claimed: before?.claimed, misses: before?.misses });
    await broker.destroy(sb.id);
  });

  it("refill replaces the claimed member; drain takes the stack down and stops refilling", async () => {
    const r = await broker.refillPools();
    const member = r.pools[0]?.created[0] as string;
    expect(f.containersOf(member)).toHaveLength(2);
    const d = await broker.drainPool("profile.compose-test");
    expect(d.destroyed).toEqual([member]);
    expect(f.containersOf(member)).toEqual([]);
    expect((await broker.refillPools()).pools[0]?.created).toEqual([]);
    expect((await broker.pools())[0]).toMatchObject({ size: 0, ready: 0, claimed: 1 });
  });
});
