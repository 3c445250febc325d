import Database from "better-sqlite3";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { MIGRATIONS } from "../src/store/migrations/index.js";
import { PG_MIGRATIONS } from "../src/store/pg-migrations/index.js";
import type { Sandbox, SandboxEvent } from "../src/types.js";
import { runCli } from "./helpers/cli.js";
import { makeHome, type TestHome } from "./helpers/home.js";
import { freshDatabase } from "./fixtures/postgres.js";

type Status = { store: string; where: string; applied: { version: number }[]; pending: { version: number }[] };
type Copied = { tables: { table: string; rows: number; checksum: string; targetChecksum: string }[] };

let home: TestHome;
const dbs: { url: string; drop(): Promise<void> }[] = [];
const fresh = async () => {
  const db = await freshDatabase(inject("pgAdminUrl"));
  dbs.push(db);
  return db.url;
};
/** An empty database, never migrated (the fixture's clones are). */
const empty = async () => {
  const url = await fresh();
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  await sql.unsafe("DROP SCHEMA public CASCADE; CREATE SCHEMA public");
  await sql.end();
  return url;
};
const cli = (args: string[], env = {}) => runCli(args, { ...home.env, ...env });
const counts = async (url: string) => {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const out: Record<string, number> = {};
    for (const t of ["sandboxes", "events", "credit_accounts", "credit_ledger", "api_tokens"])
      out[t] = Number((await sql.unsafe(`SELECT COUNT(*) AS n FROM ${t}`))[0]?.n);
    return out;
  } finally {
    await sql.end();
  }
};

beforeAll(() => {
  home = makeHome();
});
afterAll(async () => {
  await home?.cleanup();
  for (const db of dbs) await db.drop();
});

describe("migrations: one list per store", () => {
  it("every SQLite migration has a PostgreSQL twin with the same number and name, and the tables match column for column", async () => {
    expect(PG_MIGRATIONS.map((m) => [m.version, m.name])).toEqual(MIGRATIONS.map((m) => [m.version, m.name]));
    const url = await fresh();
    const sqlite = new Database(":memory:");
    for (const m of MIGRATIONS) sqlite.exec(m.sql);
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const tables = (sqlite.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as { name: string }[]).map(
        (r) => r.name,
      );
      for (const t of tables) {
        const cols = (sqlite.prepare(`PRAGMA table_info(${t})`).all() as { name: string }[]).map((c) => c.name).sort();
        const pgCols = (await sql.unsafe("SELECT column_name FROM information_schema.columns WHERE table_name = $1", [t]))
          .map((r) => r.column_name as string)
          .sort();
        expect(pgCols, t).toEqual(cols);
      }
    } finally {
      sqlite.close();
      await sql.end();
    }
  });

  it("db status shows applied and pending per store; db migrate applies to the store in use only", async () => {
    const url = await empty();
    const before = (await cli(["db", "status", "--json"], { SANDBOXER_DATABASE_URL: url })).json<Status[]>();
    expect(before.map((s) => [s.store, s.applied.length, s.pending.length])).toEqual([
      ["sqlite", 0, MIGRATIONS.length],
      ["postgres", 0, PG_MIGRATIONS.length],
    ]);
    const migrated = await cli(["db", "migrate", "--json"], { SANDBOXER_DATABASE_URL: url });
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(migrated.json()).toMatchObject({ store: "postgres", applied: PG_MIGRATIONS.map((m) => m.version) });
    expect((await cli(["db", "migrate", "--json"], { SANDBOXER_DATABASE_URL: url })).json()).toMatchObject({ applied: [] });
    const after = (await cli(["db", "status", "--json"], { SANDBOXER_DATABASE_URL: url })).json<Status[]>();
    expect(after.map((s) => [s.store, s.applied.length, s.pending.length])).toEqual([
      ["sqlite", 0, MIGRATIONS.length],
      ["postgres", PG_MIGRATIONS.length, 0],
    ]);
    const human = await cli(["db", "status"], { SANDBOXER_DATABASE_URL: url });
    expect(human.stdout).toMatch(/postgres\s+postgres:\/\/.*\n[\s\S]*010\s+replica owner/);
  });
});

describe("db copy: SQLite into PostgreSQL with nothing lost", { timeout: 240_000 }, () => {
  let url: string;
  beforeAll(async () => {
    // Records of every kind in the SQLite store: credits, a token, metered creates (one destroyed), an idempotency key.
    for (const args of [
      ["credits", "add", "10", "--project", "alpha"],
      ["tokens", "create", "--actor", "agt", "--project", "alpha"],
      ["create", "--profile", "profile.saas-stub", "--project", "alpha", "--idempotency-key", "k-1"],
      ["create", "--profile", "profile.saas-stub", "--project", "alpha"],
    ]) {
      const r = await cli([...args, "--json"]);
      expect(r.code, r.stderr).toBe(0);
    }
    const first = (await cli(["list", "--json"])).json<Sandbox[]>()[0] as Sandbox;
    expect((await cli(["destroy", first.id])).code).toBe(0);
    url = await empty();
  });

  it("copies every table, prints counts and matching checksums; the copy answers as the original did", async () => {
    const r = await cli(["db", "copy", "--to", url, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const { tables } = r.json<Copied>();
    expect(tables.map((t) => t.table)).toEqual(
      expect.arrayContaining([
        "sandboxes",
        "events",
        "credit_accounts",
        "credit_ledger",
        "credit_reservations",
        "api_tokens",
        "idempotency_keys",
        "snapshots",
        "leases",
      ]),
    );
    for (const t of tables) expect(t.targetChecksum, t.table).toBe(t.checksum);
    expect(tables.find((t) => t.table === "sandboxes")?.rows).toBe(2);
    const onPg = { SANDBOXER_DATABASE_URL: url };
    for (const args of [
      ["list", "--all", "--json"],
      ["credits", "show", "--project", "alpha", "--json"],
      ["credits", "history", "--json"],
      ["tokens", "list", "--json"],
    ]) {
      expect((await cli(args, onPg)).json(), args.join(" ")).toEqual((await cli(args)).json());
    }
    const events = (await cli(["events", "--json", "--limit", "10000"])).json<SandboxEvent[]>();
    expect((await cli(["events", "--json", "--limit", "10000"], onPg)).json<SandboxEvent[]>()).toEqual(events);
    // New rows continue after the copied sequence numbers; the idempotency key still answers with its record.
    const again = (await cli(["create", "--profile", "profile.saas-stub", "--project", "alpha", "--idempotency-key", "k-1", "--json"], onPg)).json<Sandbox>();
    expect(again.id).toBe((await cli(["list", "--all", "--json"])).json<Sandbox[]>()[0]?.id);
    const next = (await cli(["credits", "add", "1", "--project", "alpha", "--json"], onPg)).code;
    expect(next).toBe(0);
    const after = (await cli(["events", "--json", "--limit", "10000"], onPg)).json<SandboxEvent[]>();
    expect(after.at(-1)?.seq).toBeGreaterThan(events.at(-1)?.seq ?? 0);
  });

  it("refuses a target that holds records (exit 4, nothing changed) unless --replace", async () => {
    const before = await counts(url);
    const r = await cli(["db", "copy", "--to", url]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/SBX_STORE_NOT_EMPTY.*already holds records: .*sandboxes \(2\).*--replace/);
    expect(await counts(url)).toEqual(before);
    const replaced = await cli(["db", "copy", "--to", url, "--replace", "--json"]);
    expect(replaced.code, replaced.stderr).toBe(0);
    expect((await counts(url)).sandboxes).toBe(2);
  });

  it("a copy killed in the middle leaves the target empty; the next copy succeeds", async () => {
    const target = await empty();
    const killed = await cli(["db", "copy", "--to", target], { SANDBOXER_CRASH_AT: "db-copy-table" });
    expect(killed.code).not.toBe(0);
    expect(await counts(target)).toEqual({ sandboxes: 0, events: 0, credit_accounts: 0, credit_ledger: 0, api_tokens: 0 });
    const ok = await cli(["db", "copy", "--to", target, "--json"]);
    expect(ok.code, ok.stderr).toBe(0);
    expect((await counts(target)).sandboxes).toBe(2);
  });

  it("bad targets: not a postgres URL (exit 2), unreachable (exit 1, the password never printed), remote mode refused", async () => {
    const bad = await cli(["db", "copy", "--to", "mysql://root@127.0.0.1/x"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/SBX_USAGE.*--to/);
    const down = await cli(["db", "copy", "--to", "postgres://sbx:hunter2@127.0.0.1:9/none"]);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/SBX_STORE.*cannot reach PostgreSQL at postgres:\/\/sbx:\*\*\*@127\.0\.0\.1:9\/none/);
    expect(down.stderr).not.toContain("hunter2");
    const remote = await cli(["db", "status"], { SANDBOXER_URL: "http://127.0.0.1:9", SANDBOXER_TOKEN: "x" });
    expect(remote.code).toBe(2);
    expect(remote.stderr).toMatch(/unset SANDBOXER_URL/);
  });
});
