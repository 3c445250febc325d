import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SandboxerError } from "../src/errors.js";
import { canTransition } from "../src/lifecycle.js";
import { publicRecord } from "../src/store/rows.js";
import { Conn } from "../src/store/sqlite-conn.js";
import { SqliteStore } from "../src/store/sqlite.js";
import type { SandboxUpdate } from "../src/store/types.js";
import { SANDBOX_STATES, type SandboxRow, type SandboxState } from "../src/types.js";

let dir: string;
let store: SqliteStore;
let n = 0;

const row = (state: SandboxState): SandboxRow => {
  const at = new Date().toISOString();
  return {
    id: `sbx-store${String(n++).padStart(7, "0")}`,
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
  };
};
const event = (id: string, type: string) => ({
  id: `evt-${id}-${type}`,
  type,
  sandboxId: id,
  at: new Date().toISOString(),
  actor: "adm",
  project: null,
  data: {},
});
const eventsOf = async (id: string) => (await store.events.list({ sandboxId: id })).map((e) => e.type);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sbx-store-"));
  store = new SqliteStore(join(dir, "sandboxer.db"));
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("the lifecycle table is the law (issue 11 §7)", () => {
  const pairs = SANDBOX_STATES.flatMap((from) => SANDBOX_STATES.map((to) => [from, to] as const));

  it.each(pairs)("%s -> %s: allowed moves commit with their event; any other is SBX_INVALID_STATE and changes nothing", async (from, to) => {
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

  it("a lost race (the record is no longer in `from`) answers undefined and changes nothing", async () => {
    const r = row("ready");
    await store.sandboxes.insert(r);
    expect(await store.sandboxes.transition(r.id, ["provisioning"], "ready", {}, event(r.id, "sandbox.ready"))).toBeUndefined();
    expect(await store.sandboxes.transition("sbx-nonexistent", ["ready"], "destroying", {}, null)).toBeUndefined();
    expect(await eventsOf(r.id)).toEqual([]);
  });

  it("state is not part of a generic update: refused by the type and at run time", async () => {
    const r = row("ready");
    await store.sandboxes.insert(r);
    // @ts-expect-error `state` is not in SandboxUpdate: only a transition moves it.
    const typed: SandboxUpdate = { state: "destroyed" };
    await expect(store.sandboxes.update(r.id, typed)).rejects.toMatchObject({ code: "SBX_INVALID_STATE" });
    const sneaky = { state: "destroyed", reason: "user" } as unknown as SandboxUpdate;
    await expect(store.sandboxes.transition(r.id, ["ready"], "destroying", sneaky, null)).rejects.toBeInstanceOf(SandboxerError);
    expect(await store.sandboxes.get(r.id)).toMatchObject({ state: "ready", reason: null });
  });

  it("a transaction that throws rolls its transition and event back", async () => {
    const r = row("ready");
    await store.sandboxes.insert(r);
    const failing = store.tx(async (t) => {
      expect(await t.sandboxes.transition(r.id, ["ready"], "destroying", {}, event(r.id, "sandbox.destroying"))).toMatchObject({ state: "destroying" });
      throw new SandboxerError("SBX_INTERNAL", "after the write");
    });
    await expect(failing).rejects.toMatchObject({ code: "SBX_INTERNAL" });
    expect((await store.sandboxes.get(r.id))?.state).toBe("ready");
    expect(await eventsOf(r.id)).toEqual([]);
  });
});

describe("async transactions on a synchronous driver", () => {
  it("never interleave in one process, across two stores on the same file (no lost update)", async () => {
    const other = new SqliteStore(join(dir, "sandboxer.db"));
    try {
      const bump = (s: SqliteStore) =>
        s.tx(async (t) => {
          const a = await t.credits.account("gate");
          // Yield to the event loop mid-transaction: every other transaction must wait.
          await new Promise((r) => setImmediate(r));
          a.balanceMicro += 1;
          a.updatedAt = new Date().toISOString();
          await t.credits.saveAccount(a);
        });
      await Promise.all(Array.from({ length: 40 }, (_, i) => bump(i % 2 ? store : other)));
      expect((await store.credits.account("gate")).balanceMicro).toBe(40);
      // Single statements outside a transaction wait for one in flight, and see only committed rows.
      let inside = true;
      const tx = store.tx(async (t) => {
        const a = await t.credits.account("gate");
        a.balanceMicro = 1000;
        await t.credits.saveAccount(a);
        await new Promise((r) => setTimeout(r, 20));
        inside = false;
        throw new Error("roll back");
      });
      const read = store.credits.account("gate").then((a) => ({ balance: a.balanceMicro, afterTx: !inside }));
      await expect(tx).rejects.toThrow("roll back");
      expect(await read).toEqual({ balance: 40, afterTx: true });
    } finally {
      await other.close();
    }
  });

  it("t.tx joins the transaction it is called on", async () => {
    const r = row("ready");
    await store.sandboxes.insert(r);
    await expect(
      store.tx(async (t) => {
        await t.tx((inner) => inner.sandboxes.transition(r.id, ["ready"], "destroying", {}, null));
        throw new Error("outer fails");
      }),
    ).rejects.toThrow("outer fails");
    expect((await store.sandboxes.get(r.id))?.state).toBe("ready");
  });

  it("getPublic is get without the private columns (handle, owner)", async () => {
    const r = {
      ...row("ready"),
      handle: { workspace: "/srv/x" },
      ownerPid: 42,
      ownerStart: "t",
      reachability: { exec: "sandboxer exec" },
      route: { chosen: "ext.local", strategy: "fixed", reason: "r", rejected: [] },
    };
    await store.sandboxes.insert(r);
    const full = await store.sandboxes.get(r.id);
    expect(full).toMatchObject({ handle: { workspace: "/srv/x" }, ownerPid: 42 });
    expect(await store.sandboxes.getPublic(r.id)).toEqual(publicRecord(full as SandboxRow));
    expect(await store.sandboxes.getPublic("sbx-nonexistent")).toBeUndefined();
  });

  it("prepares each SQL text once", () => {
    const db = new Database(":memory:");
    try {
      const c = new Conn(db);
      expect(c.stmt("SELECT 1 AS one")).toBe(c.stmt("SELECT 1 AS one"));
      expect(c.stmt("SELECT 1 AS one")).not.toBe(c.stmt("SELECT 2 AS two"));
    } finally {
      db.close();
    }
  });
});

describe("token revocation epoch", () => {
  it("moves when another connection revokes, and stays put otherwise", async () => {
    const other = new SqliteStore(join(dir, "sandboxer.db"));
    try {
      const at = new Date().toISOString();
      await store.tokens.insert({ id: "tok-aaaaaaaaaaaa", actor: "adm", project: null, name: null, createdAt: at, lastUsedAt: null, revokedAt: null }, "h1");
      const before = await store.tokens.revocationEpoch();
      expect(await store.tokens.revocationEpoch()).toBe(before);
      await other.tokens.touch("tok-aaaaaaaaaaaa", at);
      expect(await store.tokens.revocationEpoch()).toBe(before);
      await other.tokens.revoke("tok-aaaaaaaaaaaa", at);
      expect(await store.tokens.revocationEpoch()).not.toBe(before);
    } finally {
      await other.close();
    }
  });
});
