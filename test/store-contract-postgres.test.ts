import postgres from "postgres";
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

describe("PostgreSQL's own: reaching the server", () => {
  it("over its Unix socket, named as libpq does (postgres:///db?host=<socket dir>)", { timeout: 60_000 }, async () => {
    const db = await freshDatabase(inject("pgAdminUrl"));
    const admin = postgres(inject("pgAdminUrl"), { max: 1, onnotice: () => {} });
    try {
      const [dir] = await admin.unsafe("SHOW unix_socket_directories");
      const port = new URL(inject("pgAdminUrl")).port;
      const store = new PostgresStore(`postgres://postgres@localhost:${port}/${db.name}?host=${encodeURIComponent(dir?.unix_socket_directories as string)}`);
      try {
        await store.leases.acquire("over-the-socket", "me", new Date().toISOString(), new Date(Date.now() + 60_000).toISOString());
        // Our sessions on that database came in over the socket: no client address.
        const sessions = await admin.unsafe("SELECT client_addr FROM pg_stat_activity WHERE datname = $1 AND application_name = 'sandboxer'", [db.name]);
        expect(sessions.length).toBeGreaterThan(0);
        expect(sessions.map((r) => r.client_addr)).toEqual(sessions.map(() => null));
      } finally {
        await store.close();
      }
      // A socket directory with no server refuses, naming the URL without its password.
      const none = new PostgresStore(`postgres://postgres:hunter2@localhost:${port}/${db.name}?host=/nonexistent-dir`);
      try {
        await expect(none.leases.acquire("x", "me", new Date().toISOString(), new Date().toISOString())).rejects.toThrow(/SBX_STORE|cannot reach PostgreSQL/);
        await expect(none.leases.acquire("x", "me", new Date().toISOString(), new Date().toISOString())).rejects.not.toThrow(/hunter2/);
      } finally {
        await none.close();
      }
    } finally {
      await admin.end();
      await db.drop();
    }
  });
});
