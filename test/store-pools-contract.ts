/**
 * The pool repository's contract, for every store driver (issue 14): run by
 * test/store-pools-sqlite.test.ts and test/store-pools-postgres.test.ts
 * (same shape as test/store-contract.ts: `database()` makes an empty
 * migrated database, `open()` one more connection to it, as another process
 * or replica would hold).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomIds } from "../src/ids.js";
import type { NewEvent, Store } from "../src/store/types.js";
import type { SandboxRow, SandboxState } from "../src/types.js";
import { row, type StoreDatabase, type StoreUnderTest } from "./store-contract.js";

let n = 0;
const at = (s: number) => new Date(Date.UTC(2030, 0, 1, 12, 0, s)).toISOString();
/** The store contract's record, as a pool member (warm when ready) with times that follow creation order. */
const member = (over: Partial<SandboxRow> = {}, state: SandboxState = "ready"): SandboxRow => {
  const t = at(++n % 50);
  return row(state, {
    createdAt: t,
    readyAt: state === "ready" ? t : null,
    updatedAt: at(0),
    pool: "profile.local",
    poolStage: state === "ready" ? "warm" : "warming",
    ...over,
  });
};
const event = (sandboxId: string, type: string): NewEvent => ({ id: randomIds("evt"), type, sandboxId, at: at(1), actor: "adm", project: null, data: {} });
const owner = { replica: "r1", pid: 4242, start: "s" };

export function testPoolStore(sut: StoreUnderTest): void {
  describe(`pool repository contract: ${sut.name}`, () => {
    let db: StoreDatabase;
    let store: Store;
    let other: Store;
    let key = "";
    const fresh = () => {
      key = `profile.local?k=${randomIds("evt").slice(4, 12)}`;
      return key;
    };

    beforeAll(async () => {
      db = await sut.database();
      store = db.open();
      other = db.open();
    });
    afterAll(async () => {
      await store?.close();
      await other?.close();
      await db?.cleanup();
    });

    it("members are left out of `pool: hide` lists and their events stay hidden, also after the hand-over", async () => {
      const pool = fresh();
      const m = member({ pool, project: null });
      const plain = member({ pool: null, poolStage: null });
      await store.sandboxes.insert(m);
      await store.sandboxes.insert(plain);
      await store.events.append(event(m.id, "sandbox.ready"));
      const ids = async (pool: "all" | "hide" | "only") => (await store.sandboxes.list({ pool })).map((r) => r.id);
      expect(await ids("hide")).toContain(plain.id);
      expect(await ids("hide")).not.toContain(m.id);
      expect(await ids("only")).toContain(m.id);
      expect(await ids("only")).not.toContain(plain.id);
      expect(await ids("all")).toEqual(expect.arrayContaining([m.id, plain.id]));
      expect((await store.events.list({ sandboxId: m.id, pool: "hide" })).length).toBe(0);
      expect((await store.events.list({ sandboxId: m.id })).length).toBe(1);
      // The record reads back its pool fields (private: never on the public record).
      expect(await store.sandboxes.get(m.id)).toMatchObject({ pool, poolStage: "warm" });
      // The public read never answers a member.
      expect(await store.sandboxes.getPublic(m.id)).toBeUndefined();
      expect((await store.sandboxes.getPublic(plain.id))?.id).toBe(plain.id);

      await store.tx(async (t) => {
        await t.pools.handOver(m.id, "_adm:key-1");
        await t.events.append(event(m.id, "sandbox.requested"));
      });
      expect(await store.sandboxes.get(m.id)).toMatchObject({ pool: null, poolStage: null });
      expect((await store.sandboxes.getPublic(m.id))?.id).toBe(m.id);
      expect((await store.sandboxes.findByIdempotencyKey("_adm:key-1"))?.id).toBe(m.id);
      expect(await ids("hide")).toContain(m.id);
      expect((await store.events.list({ sandboxId: m.id, pool: "hide" })).map((e) => e.type)).toEqual(["sandbox.requested"]);
    });

    it("a claim takes the first target that has a warm member, oldest ready first, at the asked version, not idle", async () => {
      const pool = fresh();
      const old = member({ pool, readyAt: at(1) });
      const newer = member({ pool, readyAt: at(5) });
      const e2b = member({ pool, extension: "ext.e2b", readyAt: at(0) });
      const v2 = member({ pool, profileVersion: 2, readyAt: at(0) });
      const warming = member({ pool }, "provisioning");
      for (const r of [old, newer, e2b, v2, warming]) await store.sandboxes.insert(r);
      expect(Object.fromEntries(await store.pools.warmCounts(pool, 1))).toEqual({ "ext.local@localhost": 2, "ext.e2b@localhost": 1 });
      const q = {
        pool,
        profileVersion: 1,
        targets: [
          { extension: "ext.local", host: "*" },
          { extension: "ext.e2b", host: "*" },
        ],
      };
      const first = await store.pools.claim(q, owner, at(10));
      // Owned like an in-flight create: replica, pid, start and a first heartbeat (other replicas judge the claim by it).
      expect(first).toMatchObject({ id: old.id, poolStage: "claimed", ownerPid: 4242, ownerStart: "s", ownerReplica: "r1", ownerBeatAt: at(10), pool });
      // Idle cut: the remaining local member became ready at :05; readyAfter :06 leaves only e2b's... which is older still.
      expect(await store.pools.claim({ ...q, readyAfter: at(6) }, owner, at(10))).toBeUndefined();
      expect((await store.pools.claim(q, owner, at(10)))?.id).toBe(newer.id);
      expect((await store.pools.claim(q, owner, at(10)))?.id).toBe(e2b.id);
      expect(await store.pools.claim(q, owner, at(10))).toBeUndefined();
      expect((await store.pools.claim({ ...q, profileVersion: 2 }, owner, at(10)))?.id).toBe(v2.id);
      // A host target is a filter.
      const boxed = member({ pool, host: "box1" });
      await store.sandboxes.insert(boxed);
      expect(await store.pools.claim({ ...q, targets: [{ extension: "ext.local", host: "localhost" }] }, owner, at(10))).toBeUndefined();
      expect((await store.pools.claim({ ...q, targets: [{ extension: "ext.local", host: "box1" }] }, owner, at(10)))?.id).toBe(boxed.id);
      expect((await store.pools.members(pool)).map((m) => m.poolStage).sort()).toEqual(["claimed", "claimed", "claimed", "claimed", "claimed", "warming"]);
      expect((await store.pools.members(pool, ["warming"])).map((m) => m.id)).toEqual([warming.id]);
      expect((await store.pools.members(undefined, ["warming"])).map((m) => m.id)).toContain(warming.id);
    });

    it("40 claims racing on two connections against 10 members: each member taken exactly once", async () => {
      const pool = fresh();
      const rows = Array.from({ length: 10 }, (_, i) => member({ pool, readyAt: at(i) }));
      for (const r of rows) await store.sandboxes.insert(r);
      const q = { pool, profileVersion: 1, targets: [{ extension: "ext.local", host: "*" }] };
      const got = await Promise.all(
        Array.from({ length: 40 }, (_, i) => (i % 2 ? other : store).pools.claim(q, { replica: `r${i % 2}`, pid: i, start: null }, at(20))),
      );
      const taken = got.filter((r): r is SandboxRow => r !== undefined).map((r) => r.id);
      expect(taken).toHaveLength(10);
      expect(new Set(taken).size).toBe(10);
      expect(new Set(taken)).toEqual(new Set(rows.map((r) => r.id)));
    });

    it("settings and counters: put keeps counters, hits and misses start the shortfall, refills measure the lag", async () => {
      const pool = fresh();
      await store.pools.put({ key: pool, profile: "profile.local", inputs: { k: "v" }, size: 4, maxIdleSeconds: 60 }, at(0));
      await store.pools.count(pool, "profile.local", "hit", at(1));
      await store.pools.count(pool, "profile.local", "miss", at(2));
      expect(await store.pools.get(pool)).toMatchObject({ size: 4, maxIdleSeconds: 60, inputs: { k: "v" }, hits: 1, misses: 1, shortSince: at(1) });
      await store.pools.refilled(pool, at(4), false);
      expect(await store.pools.get(pool)).toMatchObject({ lagCount: 1, lagMsLast: 3000, lagMsSum: 3000, shortSince: at(4) });
      await store.pools.refilled(pool, at(5), true);
      expect(await store.pools.get(pool)).toMatchObject({ lagCount: 2, lagMsLast: 1000, lagMsSum: 4000, shortSince: null });
      await store.pools.put({ key: pool, profile: "profile.local", inputs: { k: "v" }, size: 0, maxIdleSeconds: null }, at(6));
      expect(await store.pools.get(pool)).toMatchObject({ size: 0, hits: 1, misses: 1 });
      // A profile's pool gets its counters row from the first count.
      const byProfile = fresh();
      await other.pools.count(byProfile, "profile.local", "miss", at(7));
      expect(await store.pools.get(byProfile)).toMatchObject({ size: null, misses: 1 });
      expect((await store.pools.list()).map((p) => p.key)).toEqual(expect.arrayContaining([pool, byProfile]));
    });

    it("the owner's heartbeat reaches the members it claimed (claimed, applying), not warm ones or another owner's", async () => {
      const pool = fresh();
      const [a, b, c] = [member({ pool }), member({ pool }), member({ pool })];
      for (const r of [a, b, c]) await store.sandboxes.insert(r);
      const q = { pool, profileVersion: 1, targets: [{ extension: "ext.local", host: "*" }] };
      const mine = { replica: "r-beat", pid: 777, start: "s7" };
      const first = await store.pools.claim(q, mine, at(1));
      const second = await other.pools.claim(q, mine, at(1));
      const theirs = await store.pools.claim(q, { ...mine, replica: "r-other" }, at(1));
      expect(new Set([first?.id, second?.id, theirs?.id]).size).toBe(3);
      await store.sandboxes.update(second?.id as string, { poolStage: "applying" });
      expect(await store.sandboxes.heartbeat(mine, at(30))).toBe(2);
      expect((await store.sandboxes.get(first?.id as string))?.ownerBeatAt).toBe(at(30));
      expect((await store.sandboxes.get(second?.id as string))?.ownerBeatAt).toBe(at(30));
      expect((await store.sandboxes.get(theirs?.id as string))?.ownerBeatAt).toBe(at(1));
    });

    it("events a transaction appended before the hand-over keep the member's pool (hidden); those after it are shown", async () => {
      const pool = fresh();
      const m = member({ pool });
      await store.sandboxes.insert(m);
      await store.tx(async (t) => {
        await t.events.append(event(m.id, "credits.debited"));
        await t.pools.handOver(m.id, null);
        await t.events.append(event(m.id, "sandbox.ready"));
      });
      expect((await store.events.list({ sandboxId: m.id })).map((e) => e.type)).toEqual(["credits.debited", "sandbox.ready"]);
      expect((await store.events.list({ sandboxId: m.id, pool: "hide" })).map((e) => e.type)).toEqual(["sandbox.ready"]);
    });

    it("a claim inside a transaction that rolls back leaves the member warm", async () => {
      const pool = fresh();
      const m = member({ pool });
      await store.sandboxes.insert(m);
      const q = { pool, profileVersion: 1, targets: [{ extension: "ext.local", host: "*" }] };
      await expect(
        store.tx(async (t) => {
          expect((await t.pools.claim(q, owner, at(1)))?.id).toBe(m.id);
          throw new Error("credits refused");
        }),
      ).rejects.toThrow("credits refused");
      expect(await store.sandboxes.get(m.id)).toMatchObject({ poolStage: "warm", ownerPid: null });
    });
  });
}
