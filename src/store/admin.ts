/**
 * Store administration: which migrations each store has (without applying
 * any), applying them, and reading a SQLite store table by table for
 * `sandboxer db copy` (./copy.ts).
 */
import { existsSync } from "node:fs";
import Database from "better-sqlite3";
import { MIGRATIONS, type Migration } from "./migrations/index.js";
import { PG_MIGRATIONS } from "./pg-migrations/index.js";
import { PostgresStore } from "./postgres.js";
import { SqliteStore } from "./sqlite.js";

export interface MigrationStatus {
  store: "sqlite" | "postgres";
  /** The file, or the URL without its password. */
  where: string;
  applied: { version: number; name: string; appliedAt: string }[];
  /** Known to this build, not yet applied. */
  pending: { version: number; name: string }[];
  /** Applied by a newer build: this one does not know them. */
  unknown: number[];
}

function status(store: MigrationStatus["store"], where: string, known: readonly Migration[], applied: MigrationStatus["applied"]): MigrationStatus {
  const have = new Set(applied.map((m) => m.version));
  const ours = new Set(known.map((m) => m.version));
  return {
    store,
    where,
    applied,
    pending: known.filter((m) => !have.has(m.version)).map(({ version, name }) => ({ version, name })),
    unknown: applied.filter((m) => !ours.has(m.version)).map((m) => m.version),
  };
}

/** The SQLite store's migrations, read without opening it for writing (a missing file has all pending). */
export function sqliteStatus(file: string): MigrationStatus {
  if (!existsSync(file)) return status("sqlite", file, MIGRATIONS, []);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const table = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
    const rows = table
      ? (db.prepare("SELECT version, name, applied_at FROM schema_migrations ORDER BY version").all() as {
          version: number;
          name: string;
          applied_at: string;
        }[])
      : [];
    return status(
      "sqlite",
      file,
      MIGRATIONS,
      rows.map((r) => ({ version: r.version, name: r.name, appliedAt: r.applied_at })),
    );
  } finally {
    db.close();
  }
}

export async function postgresStatus(url: string): Promise<MigrationStatus> {
  const store = new PostgresStore(url, { migrate: false, max: 1 });
  try {
    return status("postgres", store.where, PG_MIGRATIONS, await store.applied());
  } finally {
    await store.close();
  }
}

/** Apply what is pending on the store this process uses; returns the versions applied. */
export async function migrateStore(
  target: { sqlite: string } | { postgres: string },
): Promise<{ store: MigrationStatus["store"]; where: string; applied: number[] }> {
  if ("postgres" in target) {
    const store = new PostgresStore(target.postgres, { migrate: false, max: 1 });
    try {
      return { store: "postgres", where: store.where, applied: await store.migrate() };
    } finally {
      await store.close();
    }
  }
  const before = sqliteStatus(target.sqlite).pending.map((m) => m.version);
  // Opening the SQLite store applies its migrations (under its write lock).
  await new SqliteStore(target.sqlite).close();
  return { store: "sqlite", where: target.sqlite, applied: before };
}
