/**
 * What only the SQLite driver has: a synchronous library under async
 * transactions (src/store/gate.ts) and its statement cache. Everything a
 * store promises, on SQLite and PostgreSQL alike, is the contract suite
 * (test/store-contract.ts, run by store-contract-sqlite/-postgres).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Conn } from "../src/store/sqlite-conn.js";
import { SqliteStore } from "../src/store/sqlite.js";

let dir: string;
let store: SqliteStore;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sbx-store-"));
  store = new SqliteStore(join(dir, "sandboxer.db"));
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
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
