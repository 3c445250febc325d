import { describe, expect, inject, it } from "vitest";
import { PostgresStore } from "../src/store/postgres.js";
import { freshDatabase } from "./fixtures/postgres.js";
import { testStore } from "./store-contract.js";

testStore({
  name: "postgres",
  async database() {
    const db = await freshDatabase(inject("pgAdminUrl"));
    return { open: () => new PostgresStore(db.url), cleanup: () => db.drop() };
  },
});

describe("PostgreSQL's own: transactions on a fresh pool", () => {
  it("run side by side, each on a connection opened for it (none waits for another to end)", { timeout: 60_000 }, async () => {
    const db = await freshDatabase(inject("pgAdminUrl"));
    const store = new PostgresStore(db.url);
    try {
      await store.schemaVersion();
      // Every transaction holds until all have started: they only get there if each was given a
      // connection of its own while the others still hold theirs (the driver must open new ones).
      const n = 5;
      let started = 0;
      let release: () => void = () => {};
      const all = new Promise<void>((r) => {
        release = r;
      });
      const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`only ${started} of ${n} transactions started`)), 20_000).unref());
      const txs = Array.from({ length: n }, (_, i) =>
        store.tx(async (t) => {
          await t.leases.acquire(`side-by-side-${i}`, "me", new Date().toISOString(), new Date(Date.now() + 60_000).toISOString());
          if (++started === n) release();
          await all;
          return i;
        }),
      );
      expect(await Promise.race([Promise.all(txs), timeout])).toEqual([0, 1, 2, 3, 4]);
    } finally {
      await store.close();
      await db.drop();
    }
  });
});
