/**
 * One contract suite for every store driver (like test/extension-contract.ts
 * for extensions): the same tests against SQLite and a real PostgreSQL.
 *
 *   testStore({ name: "postgres", database: async () => ({ open, cleanup }) });
 *
 * `database()` makes a fresh, empty, migrated database; `open()` opens one
 * more connection (store) to it, so the concurrency tests race two stores the
 * way two processes or two replicas would.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addCredits, reserveCredits } from "../src/broker/credits.js";
import { SandboxerError } from "../src/errors.js";
import { randomIds } from "../src/ids.js";
import { canTransition } from "../src/lifecycle.js";
import type { NewEvent, SandboxUpdate, Store } from "../src/store/types.js";
import { SANDBOX_STATES, type SandboxRow, type SandboxState } from "../src/types.js";
import { testUiSessionStore } from "./store-ui-sessions-contract.js";

export interface StoreDatabase {
  open(): Store;
  cleanup(): Promise<void>;
}

export interface StoreUnderTest {
  name: string;
  database(): Promise<StoreDatabase>;
}

let n = 0;
export const row = (state: SandboxState, over: Partial<SandboxRow> = {}): SandboxRow => {
  const at = new Date().toISOString();
  return {
    id: `sbx-${randomIds("sbx").slice(4, 12)}${String(n++ % 10000).padStart(4, "0")}`,
    profile: "profile.local",
    profileVersion: 1,
    extension: "ext.local",
    mode: null,
    host: "localhost",
    state,
    actor: "adm",
    project: null,
    inputs: {},
    createdAt: at,
    readyAt: null,
    expiresAt: null,
    destroyedAt: null,
    reason: null,
    reachability: null,
    route: null,
    cost: null,
    error: null,
    hostFacts: null,
    ttlSeconds: 60,
    updatedAt: at,
    handle: null,
    ownerPid: null,
    ownerStart: null,
    ...over,
  };
};
export const event = (sandboxId: string | null, type: string, data: Record<string, unknown> = {}): NewEvent => ({
  id: randomIds("evt"),
  type,
  sandboxId,
  at: new Date().toISOString(),
  actor: "adm",
  project: null,
  data,
});
const deps = { clock: { now: () => new Date() }, ids: randomIds };

export function testStore(sut: StoreUnderTest): void {
  describe(`store contract: ${sut.name}`, () => {
    let db: StoreDatabase;
    let store: Store;
    let other: Store;
    const eventsOf = async (id: string) => (await store.events.list({ sandboxId: id })).map((e) => e.type);

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

    it("reports its kind and the newest schema version", async () => {
      expect(store.kind).toBe(sut.name);
      expect(await store.schemaVersion()).toBeGreaterThanOrEqual(10);
    });

    describe("the lifecycle table is the law", () => {
      const pairs = SANDBOX_STATES.flatMap((from) => SANDBOX_STATES.map((to) => [from, to] as const));
      it.each(pairs)("%s -> %s: allowed moves commit with their event; others are SBX_INVALID_STATE and change nothing", async (from, to) => {
        const r = row(from);
        await store.sandboxes.insert(r);
        const attempt = store.sandboxes.transition(r.id, [from], to, { reason: "user" }, event(r.id, `sandbox.${to}`));
        if (canTransition(from, to)) {
          expect(await attempt).toMatchObject({ id: r.id, state: to, reason: "user" });
          expect(await eventsOf(r.id)).toEqual([`sandbox.${to}`]);
        } else {
          await expect(attempt).rejects.toMatchObject({ code: "SBX_INVALID_STATE" });
          expect(await store.sandboxes.get(r.id)).toMatchObject({ state: from, reason: null });
          expect(await eventsOf(r.id)).toEqual([]);
        }
      });

      it("a lost race answers undefined and writes no event; state is not part of a generic update", async () => {
        const r = row("ready");
        await store.sandboxes.insert(r);
        expect(await store.sandboxes.transition(r.id, ["provisioning"], "ready", {}, event(r.id, "sandbox.ready"))).toBeUndefined();
        expect(await store.sandboxes.transition("sbx-nonexistent", ["ready"], "destroying", {}, null)).toBeUndefined();
        // @ts-expect-error `state` is not in SandboxUpdate: only a transition moves it.
        const typed: SandboxUpdate = { state: "destroyed" };
        await expect(store.sandboxes.update(r.id, typed)).rejects.toMatchObject({ code: "SBX_INVALID_STATE" });
        const sneaky = { state: "destroyed" } as unknown as SandboxUpdate;
        await expect(store.sandboxes.update(r.id, sneaky)).rejects.toBeInstanceOf(SandboxerError);
        await expect(store.sandboxes.transition(r.id, ["ready"], "destroying", sneaky, null)).rejects.toBeInstanceOf(SandboxerError);
        expect(await store.sandboxes.get(r.id)).toMatchObject({ state: "ready" });
        expect(await eventsOf(r.id)).toEqual([]);
      });
      it("a guarded move happens only while the given process owns the record (a replica that took it over wins)", async () => {
        const me = { replica: "replica-a", pid: 4242, start: "1000" };
        const mine = row("provisioning", { ownerReplica: me.replica, ownerPid: me.pid, ownerStart: me.start });
        const legacy = row("provisioning", { ownerPid: me.pid, ownerStart: me.start });
        const takenOver = row("provisioning", { ownerReplica: "replica-b", ownerPid: me.pid, ownerStart: me.start });
        const restarted = row("provisioning", { ownerReplica: me.replica, ownerPid: me.pid, ownerStart: "2000" });
        const released = row("provisioning");
        for (const r of [mine, legacy, takenOver, restarted, released]) await store.sandboxes.insert(r);
        const ready = (id: string) => store.sandboxes.transition(id, ["provisioning"], "ready", { ownerPid: null }, event(id, "sandbox.ready"), { owner: me });
        expect(await ready(mine.id)).toMatchObject({ state: "ready", ownerPid: null });
        // A record from before replicas (no replica column) is this replica's.
        expect(await ready(legacy.id)).toMatchObject({ state: "ready" });
        for (const r of [takenOver, restarted, released]) {
          expect(await ready(r.id)).toBeUndefined();
          expect(await store.sandboxes.get(r.id)).toMatchObject({ state: "provisioning", ownerPid: r.ownerPid });
          expect(await eventsOf(r.id)).toEqual([]);
        }
        expect(await eventsOf(mine.id)).toEqual(["sandbox.ready"]);
        // The guard also holds inside a transaction (the ready step of a restore or a pool refill).
        expect(
          await store.tx((t) => t.sandboxes.transition(takenOver.id, ["provisioning"], "ready", {}, event(takenOver.id, "sandbox.ready"), { owner: me })),
        ).toBeUndefined();
      });

      it("suspects: in flight, failed with resources left, and claimed pool members, oldest first; nothing else", async () => {
        const at = (s: number) => new Date(Date.UTC(2020, 0, 1, 0, 0, s)).toISOString();
        const judged = [
          row("requested", { createdAt: at(1) }),
          row("provisioning", { createdAt: at(2) }),
          // A failed record cleaned earlier and now being destroyed keeps its destroyedAt.
          row("destroying", { createdAt: at(3), destroyedAt: at(9) }),
          row("failed", { createdAt: at(4) }),
          row("ready", { createdAt: at(5), pool: "p-suspects", poolStage: "claimed" }),
          row("ready", { createdAt: at(6), pool: "p-suspects", poolStage: "applying" }),
        ];
        const left = [
          row("ready", { createdAt: at(1) }),
          row("failed", { createdAt: at(2), destroyedAt: at(3) }),
          row("destroyed", { createdAt: at(3), destroyedAt: at(4) }),
          row("ready", { createdAt: at(4), pool: "p-suspects", poolStage: "warm" }),
          row("destroy_failed", { createdAt: at(5) }),
        ];
        for (const r of [...left, ...judged].reverse()) await store.sandboxes.insert(r);
        const mine = new Set([...judged, ...left].map((r) => r.id));
        const got = (await store.sandboxes.suspects()).filter((r) => mine.has(r.id));
        expect(got.map((r) => r.id)).toEqual(judged.map((r) => r.id));
        expect(got[4]).toMatchObject({ pool: "p-suspects", poolStage: "claimed" });
      });
    });

    describe("transactions", () => {
      it("a transaction that throws rolls back its writes and events; t.tx joins it", async () => {
        const r = row("ready");
        await store.sandboxes.insert(r);
        const failing = store.tx(async (t) => {
          await t.tx((inner) => inner.sandboxes.transition(r.id, ["ready"], "destroying", {}, event(r.id, "sandbox.destroying")));
          await t.events.append(event(r.id, "sandbox.progress"));
          await t.sandboxes.insert(row("requested"));
          throw new Error("after the writes");
        });
        await expect(failing).rejects.toThrow("after the writes");
        expect((await store.sandboxes.get(r.id))?.state).toBe("ready");
        expect(await eventsOf(r.id)).toEqual([]);
      });

      it("a write that fails inside a transaction fails it with its own error (at its next statement or at commit), keeping nothing", async () => {
        const r = row("ready");
        await store.sandboxes.insert(r);
        const fresh = row("requested");
        // Failing write, then only the commit (its events): the duplicate is the error, nothing of the transaction stays.
        const atCommit = store.tx(async (t) => {
          await t.sandboxes.insert(fresh);
          await t.sandboxes.insert(r);
          await t.events.append(event(fresh.id, "sandbox.requested"));
        });
        await expect(atCommit).rejects.toThrow(/unique|duplicate/i);
        // Failing write, then a read: the read reports the duplicate, not a vague "transaction aborted".
        const atRead = store.tx(async (t) => {
          await t.sandboxes.update(r.id, { updatedAt: "2020-01-01T00:00:00.000Z" });
          await t.sandboxes.insert(r);
          await t.sandboxes.get(r.id);
        });
        await expect(atRead).rejects.toThrow(/unique|duplicate/i);
        expect(await store.sandboxes.get(fresh.id)).toBeUndefined();
        expect(await store.sandboxes.get(r.id)).toMatchObject({ updatedAt: r.updatedAt });
        expect(await eventsOf(fresh.id)).toEqual([]);
      });

      it("a committed transaction's writes and events are all visible to another connection", async () => {
        const r = row("requested");
        await store.tx(async (t) => {
          await t.sandboxes.insert(r);
          await t.events.append(event(r.id, "sandbox.requested"));
          expect(await t.sandboxes.getForUpdate(r.id)).toMatchObject({ id: r.id });
          await t.sandboxes.transition(r.id, ["requested"], "provisioning", {}, event(r.id, "sandbox.provisioning"));
        });
        expect(await other.sandboxes.get(r.id)).toMatchObject({ state: "provisioning" });
        expect((await other.events.list({ sandboxId: r.id })).map((e) => e.type)).toEqual(["sandbox.requested", "sandbox.provisioning"]);
      });

      it("two connections racing one transition: exactly one wins, one event", async () => {
        for (let round = 0; round < 5; round++) {
          const r = row("ready");
          await store.sandboxes.insert(r);
          const racers = Array.from({ length: 8 }, (_, i) =>
            (i % 2 ? store : other).tx(async (t) => {
              const cur = await t.sandboxes.getForUpdate(r.id);
              if (cur?.state !== "ready") return false;
              await new Promise((res) => setTimeout(res, 2));
              return Boolean(await t.sandboxes.transition(r.id, ["ready"], "destroying", { reason: "user" }, event(r.id, "sandbox.destroying")));
            }),
          );
          expect((await Promise.all(racers)).filter(Boolean)).toHaveLength(1);
          expect(await eventsOf(r.id)).toEqual(["sandbox.destroying"]);
        }
      });

      it("one idempotency key, two concurrent inserts: one record, the loser fails and finds the winner", async () => {
        const key = `idem-${randomIds("evt")}`;
        const a = row("requested");
        const b = row("requested");
        const results = await Promise.allSettled(
          [a, b].map((r, i) =>
            (i ? other : store).tx(async (t) => {
              await t.sandboxes.insert(r, key);
              await t.idempotency.put(key, "hash", r.id, r.createdAt);
            }),
          ),
        );
        expect(results.filter((x) => x.status === "fulfilled")).toHaveLength(1);
        const winner = await store.sandboxes.findByIdempotencyKey(key);
        expect([a.id, b.id]).toContain(winner?.id);
        expect(await store.idempotency.get(key)).toEqual({ requestHash: "hash", sandboxId: winner?.id });
        const loser = winner?.id === a.id ? b.id : a.id;
        expect(await store.sandboxes.get(loser)).toBeUndefined();
      });
    });

    describe("credits", () => {
      it("credits for N, 3N concurrent reservations from two connections: exactly N succeed", async () => {
        const N = 6;
        const project = `p${randomIds("evt").slice(4, 14)}`;
        // profile at 1 credit/hour for 1 hour = 1 credit per reservation
        await addCredits(deps, store, project, N);
        const tries = Array.from({ length: 3 * N }, (_, i) => {
          const r = row("requested", { project, ttlSeconds: 3600, extension: "ext.saas-stub" });
          return (i % 2 ? store : other).tx(async (t) => {
            await reserveCredits(deps, t, r, { pricePerHour: 1, currency: "credits" });
            await new Promise((res) => setTimeout(res, 1));
            await t.sandboxes.insert(r);
          });
        });
        const results = await Promise.allSettled(tries);
        expect(results.filter((x) => x.status === "fulfilled")).toHaveLength(N);
        for (const x of results) if (x.status === "rejected") expect(x.reason).toMatchObject({ code: "SBX_INSUFFICIENT_CREDITS" });
        expect(await store.credits.account(project)).toMatchObject({ balanceMicro: N * 1_000_000, reservedMicro: N * 1_000_000 });
        expect((await store.sandboxes.list({ project })).length).toBe(N);
        expect((await store.credits.history({ account: project })).filter((e) => e.kind === "reserve")).toHaveLength(N);
      });

      it("concurrent top-ups of an account never written lose nothing", async () => {
        const project = `q${randomIds("evt").slice(4, 14)}`;
        await Promise.all(Array.from({ length: 10 }, (_, i) => addCredits(deps, i % 2 ? store : other, project, 1)));
        expect(await other.credits.account(project)).toMatchObject({ balanceMicro: 10_000_000, reservedMicro: 0 });
        expect((await store.credits.available()).get(project)).toBe(10_000_000);
      });

      it("the database refuses a negative balance whatever the code does", async () => {
        await expect(store.credits.saveAccount({ account: "neg", balanceMicro: -1, reservedMicro: 0, updatedAt: "x" })).rejects.toThrow();
        await expect(store.credits.saveAccount({ account: "neg", balanceMicro: 1, reservedMicro: 2, updatedAt: "x" })).rejects.toThrow();
        expect(await store.credits.account("neg")).toMatchObject({ balanceMicro: 0, updatedAt: "" });
      });

      it("reservations: put, grow, settle, history order", async () => {
        const id = row("ready").id;
        await store.tx(async (t) => {
          await t.credits.putReservation({
            sandboxId: id,
            account: "r1",
            amountMicro: 5,
            pricePerHour: 0.5,
            currency: "credits",
            at: "2026-01-01T00:00:00.000Z",
          });
          await t.credits.growReservation(id, 3);
          expect(await t.credits.openReservation(id)).toMatchObject({ amountMicro: 8, pricePerHour: 0.5 });
          await t.credits.settleReservation(id, "2026-01-01T01:00:00.000Z", 4);
        });
        expect(await store.credits.openReservation(id)).toBeUndefined();
        for (const k of [1, 2, 3])
          await store.credits.appendEntry({
            account: "r1",
            sandboxId: id,
            kind: "add",
            amountMicro: k,
            balanceMicro: k,
            reservedMicro: 0,
            at: `2026-01-0${k}T00:00:00.000Z`,
            data: { k },
          });
        expect((await store.credits.history({ account: "r1", limit: 2 })).map((e) => e.amountMicro)).toEqual([2, 3]);
        expect((await store.credits.history({ account: "r1", since: "2026-01-02T00:00:00.000Z" })).map((e) => e.data)).toEqual([{ k: 2 }, { k: 3 }]);
      });
    });

    describe("events and the outbox", () => {
      it("two publishers claiming at once never get the same event", async () => {
        const before = (await store.events.list({ afterSeq: 0, limit: 100000 })).at(-1)?.seq ?? 0;
        // One sandbox each: none waits behind another's lease (per-sandbox order is the next test's).
        const tag = randomIds("sbx").slice(4, 10);
        for (let i = 0; i < 60; i++) await store.events.append(event(`sbx-claim${tag}${i}`, "test.claim", { i }));
        const now = new Date(Date.now() + 1000).toISOString();
        const until = new Date(Date.now() + 60_000).toISOString();
        const claimed: number[][] = [[], []];
        await Promise.all(
          [store, other].map(async (s, w) => {
            for (;;) {
              const got = await s.events.claimPending(now, until, 7);
              if (!got.length) break;
              claimed[w]?.push(...got.map((e) => e.seq));
            }
          }),
        );
        const all = [...(claimed[0] ?? []), ...(claimed[1] ?? [])].filter((s) => s > before);
        expect(all.length).toBe(new Set(all).size);
        expect(all.length).toBeGreaterThanOrEqual(60);
      });

      it("each sandbox's events are claimed in order: one backing off or leased holds back the later ones of its sandbox only", async () => {
        const tag = randomIds("sbx").slice(4, 10);
        const [a, b] = [`sbx-a${tag}`, `sbx-b${tag}`];
        const mine = new Set<string>();
        const ev = (sandboxId: string) => {
          const e = { ...event(sandboxId, "test.order"), at: "2020-01-01T00:00:00.000Z" };
          mine.add(e.id);
          return e;
        };
        const [a1, b1, a2, b2] = [ev(a), ev(b), ev(a), ev(b)];
        for (const e of [a1, b1, a2, b2]) await store.events.append(e);
        const claim = async (now: string, lease: string) => (await store.events.claimPending(now, lease, 1000)).filter((e) => mine.has(e.id));
        const first = await claim("2020-01-01T00:00:00.000Z", "2020-01-01T00:00:30.000Z");
        expect(first.map((e) => e.id)).toEqual([a1.id, b1.id, a2.id, b2.id]);
        // a1 failed: it backs off; a2 waits behind it, b's go on once their lease is over.
        await store.events.markFailed(first[0]?.seq as number, "hub answered HTTP 500", "2020-01-01T00:01:00.000Z");
        for (const e of first.slice(1)) await store.events.reschedule(e.seq, "2020-01-01T00:00:00.000Z");
        expect((await claim("2020-01-01T00:00:40.000Z", "2020-01-01T00:05:00.000Z")).map((e) => e.id)).toEqual([b1.id, b2.id]);
        // a1 due again: both of a's, in order (b's are leased now).
        expect((await claim("2020-01-01T00:01:00.000Z", "2020-01-01T00:05:00.000Z")).map((e) => e.id)).toEqual([a1.id, a2.id]);
      });

      it("claims racing on two connections hand out each sandbox's events one at a time: only its first is ever out", async () => {
        const tag = randomIds("sbx").slice(4, 10);
        const firsts = new Map<string, string>();
        const mine = new Set<string>();
        for (let i = 0; i < 3; i++) {
          for (let k = 0; k < 20; k++) {
            const e = { ...event(`sbx-r${tag}${k}`, "test.race", { i }), at: "2020-01-01T00:00:00.000Z" };
            if (i === 0) firsts.set(e.sandboxId as string, e.id);
            mine.add(e.id);
            await store.events.append(e);
          }
        }
        const got: string[] = [];
        await Promise.all(
          [store, other].map(async (s) => {
            for (;;) {
              const batch = await s.events.claimPending("2020-01-01T00:00:01.000Z", "2999-01-01T00:00:00.000Z", 1);
              if (!batch.length) break;
              got.push(...batch.filter((e) => mine.has(e.id)).map((e) => e.id));
            }
          }),
        );
        // Every sandbox's first event went out, once; none of its later ones overtook it.
        expect(got.sort()).toEqual([...firsts.values()].sort());
      });

      it("delivery bookkeeping: delivered, failed with a next attempt, rescheduled, stats", async () => {
        const e = event(`sbx-book${randomIds("sbx").slice(4, 10)}`, "test.outbox");
        await store.events.append(e);
        const [mine] = (await store.events.list({ afterSeq: 0, limit: 100000 })).filter((x) => x.id === e.id);
        const seq = mine?.seq as number;
        await store.events.markFailed(seq, "hub down", "2999-01-01T00:00:00.000Z");
        expect((await store.events.claimPending(new Date().toISOString(), new Date().toISOString(), 1000)).map((x) => x.seq)).not.toContain(seq);
        await store.events.reschedule(seq, "2000-01-01T00:00:00.000Z");
        const again = (await store.events.claimPending(new Date().toISOString(), "2999-01-01T00:00:00.000Z", 1000)).find((x) => x.seq === seq);
        expect(again).toMatchObject({ id: e.id, attempts: 1, data: {} });
        const before = await store.events.stats();
        await store.events.markDelivered(seq, new Date().toISOString());
        const after = await store.events.stats();
        expect(after.delivered).toBe(before.delivered + 1);
        expect(after.pending).toBe(before.pending - 1);
      });

      it("a reader following by seq while two connections commit misses nothing (Last-Event-ID is exact)", async () => {
        const tag = randomIds("evt");
        const start = (await store.events.list({ afterSeq: 0, limit: 100000 })).at(-1)?.seq ?? 0;
        let writing = true;
        const seen: string[] = [];
        const reader = (async () => {
          let after = start;
          while (writing || after < ((await other.events.list({ afterSeq: after, limit: 1 })).at(0)?.seq ?? after)) {
            for (const e of await other.events.list({ afterSeq: after, limit: 50 })) {
              expect(e.seq).toBeGreaterThan(after);
              after = e.seq;
              if (e.data.tag === tag) seen.push(e.id);
            }
            await new Promise((r) => setTimeout(r, 1));
          }
        })();
        const written: string[] = [];
        await Promise.all(
          Array.from({ length: 40 }, (_, i) =>
            (i % 2 ? store : other).tx(async (t) => {
              const e = event(null, "test.order", { tag });
              written.push(e.id);
              await t.events.append(e);
              await new Promise((r) => setTimeout(r, (i * 7) % 5));
              await t.events.append({ ...event(null, "test.order", { tag }), id: `${e.id}-b` });
              written.push(`${e.id}-b`);
            }),
          ),
        );
        writing = false;
        await reader;
        expect(new Set(seen)).toEqual(new Set(written));
        expect(seen).toHaveLength(written.length);
      });

      it("lists by sandbox, after a seq, up to a limit", async () => {
        const r = row("requested");
        for (const t of ["a", "b", "c"]) await store.events.append(event(r.id, `test.${t}`));
        const all = await store.events.list({ sandboxId: r.id });
        expect(all.map((e) => e.type)).toEqual(["test.a", "test.b", "test.c"]);
        expect((await store.events.list({ sandboxId: r.id, afterSeq: all[0]?.seq, limit: 1 })).map((e) => e.type)).toEqual(["test.b"]);
      });

      it.runIf(sut.name === "postgres")("hears commits by another connection (LISTEN/NOTIFY), not rollbacks", async () => {
        const heard: (number | null)[] = [];
        const stop = await (store.watchEvents as NonNullable<Store["watchEvents"]>)((seq) => heard.push(seq));
        try {
          await other
            .tx(async (t) => {
              await t.events.append(event(null, "test.rolled-back"));
              throw new Error("no");
            })
            .catch(() => {});
          await other.events.append(event(null, "test.notified"));
          const [last] = (await store.events.list({ afterSeq: 0, limit: 100000 })).slice(-1);
          for (let i = 0; i < 200 && !heard.includes(last?.seq ?? -1); i++) await new Promise((r) => setTimeout(r, 10));
          expect(heard).toContain(last?.seq);
          expect(heard.filter((s) => s !== null && s > (last?.seq ?? 0))).toEqual([]);
        } finally {
          await stop();
        }
      });
    });

    testRest(() => ({ store, other }));
    testUiSessionStore(() => ({ store, other }));
  });
}

/** Leases, snapshots, tokens, queries and heartbeats. */
function testRest(get: () => { store: Store; other: Store }): void {
  it("leases: one holder at a time, renewals, takeover after expiry, release", async () => {
    const { store, other } = get();
    const name = `lease-${randomIds("evt")}`;
    const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
    expect(await store.leases.acquire(name, "a", t(0), t(10))).toBe(true);
    expect(await other.leases.acquire(name, "b", t(5), t(15))).toBe(false);
    expect(await store.leases.acquire(name, "a", t(5), t(20))).toBe(true);
    expect(await other.leases.get(name)).toEqual({ holder: "a", expiresAt: t(20) });
    const race = await Promise.all(["b", "c", "d", "e"].map((h, i) => (i % 2 ? store : other).leases.acquire(name, h, t(21), t(40))));
    expect(race.filter(Boolean)).toHaveLength(1);
    const holder = (await store.leases.get(name))?.holder as string;
    await store.leases.release(name, "a");
    expect((await store.leases.get(name))?.holder).toBe(holder);
    await store.leases.release(name, holder);
    expect(await store.leases.get(name)).toBeUndefined();
  });

  it("snapshots: insert, get, filter, delete", async () => {
    const { store, other } = get();
    const snap = {
      id: `snap-${randomIds("snap").slice(5)}`,
      name: "n",
      sandboxId: "sbx-aaaaaaaaaaaa",
      profile: "profile.local",
      profileVersion: 2,
      extension: "ext.local",
      host: "localhost",
      inputs: { a: "1" },
      actor: "agt",
      project: "p1",
      format: "tar+zstd" as const,
      sha256: "ab",
      sizeBytes: 5_000_000_000,
      file: "x.tar.zst",
      createdAt: new Date().toISOString(),
    };
    await store.snapshots.insert(snap);
    expect(await other.snapshots.get(snap.id)).toEqual(snap);
    expect((await other.snapshots.list({ project: "p1", sandboxId: snap.sandboxId })).map((s) => s.id)).toContain(snap.id);
    expect(await other.snapshots.list({ project: "nobody" })).toEqual([]);
    expect(await store.snapshots.delete(snap.id)).toBe(true);
    expect(await store.snapshots.delete(snap.id)).toBe(false);
  });

  it("tokens: found by hash, touched, revoked; the revocation epoch moves only on a revoke, seen from the other connection", async () => {
    const { store, other } = get();
    const id = `tok-${randomIds("tok").slice(4)}`;
    const at = new Date().toISOString();
    await store.tokens.insert({ id, actor: "agt", project: "p", name: null, createdAt: at, lastUsedAt: null, revokedAt: null }, `hash-${id}`);
    expect(await other.tokens.findByHash(`hash-${id}`)).toMatchObject({ id, actor: "agt", project: "p" });
    const epoch = await other.tokens.revocationEpoch();
    await store.tokens.touch(id, at);
    expect(await other.tokens.revocationEpoch()).toBe(epoch);
    await store.tokens.revoke(id, at);
    expect(await other.tokens.revocationEpoch()).not.toBe(epoch);
    expect(await other.tokens.get(id)).toMatchObject({ revokedAt: at, lastUsedAt: at });
    expect((await other.tokens.list()).map((t) => t.id)).toContain(id);
  });

  it("queries: filters, keyset paging, expiry, live counts, ready times, host health", async () => {
    const { store } = get();
    const host = `h-${randomIds("evt").slice(4, 12)}`;
    const base = Date.UTC(2026, 0, 1);
    const iso = (s: number) => new Date(base + s * 1000).toISOString();
    const rows = [
      row("ready", { host, createdAt: iso(0), readyAt: iso(2), expiresAt: iso(100), project: "x" }),
      row("ready", { host, createdAt: iso(1), readyAt: iso(5), expiresAt: iso(300), project: "y" }),
      row("failed", { host, createdAt: iso(2), error: { code: "SBX_HOST_UNREACHABLE", message: "down" }, destroyedAt: iso(3) }),
      row("destroyed", { host, createdAt: iso(3), readyAt: iso(4), destroyedAt: iso(9) }),
    ];
    for (const r of rows) await store.sandboxes.insert(r);
    const mine = (f = {}) => store.sandboxes.list({ host, ...f }).then((l) => l.map((r) => r.id));
    expect(await mine()).toEqual(rows.map((r) => r.id));
    expect(await mine({ states: ["ready"], project: "y" })).toEqual([rows[1]?.id]);
    expect(await mine({ notDestroyed: true })).toEqual([rows[0]?.id, rows[1]?.id]);
    expect(await mine({ expiredBefore: iso(200) })).toEqual([rows[0]?.id]);
    expect(await mine({ after: { createdAt: iso(1), id: rows[1]?.id as string }, limit: 1 })).toEqual([rows[2]?.id]);
    expect((await store.sandboxes.liveCounts()).find((c) => c.host === host)).toEqual({ extension: "ext.local", host, n: 2 });
    expect((await store.sandboxes.recentReadySeconds("ext.local", host, 2)).map((s) => Math.round(s))).toEqual([1, 4]);
    expect(await store.sandboxes.hostHealth(iso(0))).toContainEqual({ host, down: iso(2), up: iso(3) });
  });

  it("getPublic reads the public record only: what get returns, without handle and owner", async () => {
    const { store, other } = get();
    const r = row("provisioning", {
      handle: { secret: "x" },
      ownerPid: 7,
      ownerStart: "1",
      ownerReplica: "r",
      ownerBeatAt: "2026-01-01T00:00:00.000Z",
      inputs: { a: "1" },
      cost: { reserved: 1 },
    });
    await store.sandboxes.insert(r);
    const pub = await other.sandboxes.getPublic(r.id);
    const { handle: _h, ownerPid: _p, ownerStart: _s, ownerReplica: _r, ownerBeatAt: _b, ...expected } = r;
    expect(pub).toEqual(expected);
    expect(await other.sandboxes.getPublic("sbx-nonexistent")).toBeUndefined();
  });

  it("a heartbeat stamps exactly the records its owner still holds", async () => {
    const { store, other } = get();
    const owner = { replica: `r-${randomIds("evt").slice(4, 10)}`, pid: 4242, start: "777" };
    const mine = row("provisioning", { ownerPid: owner.pid, ownerStart: owner.start, ownerReplica: owner.replica, ownerBeatAt: "2026-01-01T00:00:00.000Z" });
    const theirs = row("provisioning", { ownerPid: owner.pid, ownerStart: "778", ownerReplica: owner.replica, ownerBeatAt: "2026-01-01T00:00:00.000Z" });
    const done = row("ready", { ownerPid: owner.pid, ownerStart: owner.start, ownerReplica: owner.replica });
    // A destroy of a failed record whose resources were cleaned earlier: destroying, its destroyedAt kept.
    const cleaned = row("destroying", { destroyedAt: "2026-01-01T00:00:00.000Z", ownerPid: owner.pid, ownerStart: owner.start, ownerReplica: owner.replica });
    for (const r of [mine, theirs, done, cleaned]) await store.sandboxes.insert(r);
    const at = new Date().toISOString();
    expect(await other.sandboxes.heartbeat(owner, at)).toBe(2);
    expect(await store.sandboxes.get(mine.id)).toMatchObject({ ownerBeatAt: at, ownerReplica: owner.replica });
    expect(await store.sandboxes.get(cleaned.id)).toMatchObject({ ownerBeatAt: at });
    expect(await store.sandboxes.get(theirs.id)).toMatchObject({ ownerBeatAt: "2026-01-01T00:00:00.000Z" });
  });
}
