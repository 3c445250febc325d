/**
 * `sandboxer db copy --to postgres://...`: move a SQLite store into
 * PostgreSQL with nothing lost. Every SQLite table (whatever migrations made
 * it) is copied column for column from one read snapshot, in one Postgres
 * transaction: a crash or a mismatch leaves the target as it was. Each table
 * gets a count and a checksum computed on both sides (rows in primary-key
 * order, values as JSON); any difference rolls the copy back.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import Database from "better-sqlite3";
import type postgres from "postgres";
import { SandboxerError } from "../errors.js";
import { crashPoint } from "../faults.js";
import { connect, redactUrl, storeError } from "./pg-conn.js";
import { PostgresStore } from "./postgres.js";
import { SqliteStore } from "./sqlite.js";

export interface TableCopy {
  table: string;
  rows: number;
  /** sha256 of the source rows; the target's read back must equal it. */
  checksum: string;
  targetChecksum: string;
}

type Column = { name: string; type: string; pk: number };

const SKIP = new Set(["schema_migrations", "sqlite_sequence"]);

class Digest {
  private readonly h = createHash("sha256");
  rows = 0;
  add(cols: readonly string[], r: Record<string, unknown>): void {
    this.h.update(`${JSON.stringify(cols.map((c) => r[c] ?? null))}\n`);
    this.rows++;
  }
  hex(): string {
    return this.h.digest("hex");
  }
}

function tablesOf(db: Database.Database): { table: string; columns: Column[] }[] {
  const names = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[])
    .map((r) => r.name)
    .filter((n) => !SKIP.has(n));
  return names.map((table) => ({ table, columns: db.prepare(`PRAGMA table_info("${table}")`).all() as Column[] }));
}

/** Primary-key order, the same on both sides (Postgres compares text bytewise under COLLATE "C", as SQLite does). */
function orderBy(columns: Column[], pg: boolean): string {
  const pk = columns.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk);
  const keys = pk.length ? pk : columns;
  return keys.map((c) => (pg && !/INT/i.test(c.type) ? `"${c.name}" COLLATE "C"` : `"${c.name}"`)).join(", ");
}

export async function copySqliteToPostgres(file: string, url: string, opts: { replace?: boolean } = {}): Promise<TableCopy[]> {
  if (!existsSync(file)) throw new SandboxerError("SBX_NOT_FOUND", `no SQLite store at ${file} (SANDBOXER_HOME)`, { details: { field: "SANDBOXER_HOME" } });
  // Both sides at this build's newest schema, so their tables and columns match.
  await new SqliteStore(file).close();
  const target = new PostgresStore(url, { max: 1 });
  try {
    await target.migrate();
  } finally {
    await target.close();
  }
  const src = new Database(file, { readonly: true, fileMustExist: true });
  const sql = connect(url, { max: 1 });
  try {
    // One read transaction: a consistent snapshot even while a CLI or server writes (WAL).
    src.exec("BEGIN");
    const tables = tablesOf(src);
    return await sql.begin(async (t) => {
      await checkTarget(t, tables, url, opts.replace ?? false);
      const out: TableCopy[] = [];
      for (const { table, columns } of tables) {
        out.push(await copyTable(src, t, table, columns));
        crashPoint("db-copy-table");
      }
      return out;
    });
  } catch (err) {
    throw storeError(err, url);
  } finally {
    if (src.inTransaction) src.exec("COMMIT");
    src.close();
    await sql.end({ timeout: 5 });
  }
}

async function checkTarget(
  t: postgres.TransactionSql<{ int8: number }>,
  tables: { table: string; columns: Column[] }[],
  url: string,
  replace: boolean,
): Promise<void> {
  const filled: string[] = [];
  for (const { table, columns } of tables) {
    const have = (await t.unsafe("SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1", [table])).map(
      (r) => r.column_name as string,
    );
    const missing = columns.map((c) => c.name).filter((c) => !have.includes(c));
    if (!have.length || missing.length) {
      throw new SandboxerError(
        "SBX_STORE",
        `${redactUrl(url)} has no ${have.length ? `column(s) ${missing.join(", ")} in` : "table"} '${table}': a SQLite migration without its PostgreSQL twin (src/store/pg-migrations/)`,
      );
    }
    const [n] = await t.unsafe(`SELECT COUNT(*) AS n FROM "${table}"`);
    if ((n?.n as number) > 0) filled.push(`${table} (${n?.n})`);
  }
  if (filled.length && !replace) {
    throw new SandboxerError(
      "SBX_STORE_NOT_EMPTY",
      `${redactUrl(url)} already holds records: ${filled.join(", ")}; copy into an empty database, or give --replace to overwrite them`,
      {
        details: { field: "to" },
      },
    );
  }
  if (filled.length) await t.unsafe(`TRUNCATE ${tables.map((x) => `"${x.table}"`).join(", ")} RESTART IDENTITY`);
}

async function copyTable(src: Database.Database, t: postgres.TransactionSql<{ int8: number }>, table: string, columns: Column[]): Promise<TableCopy> {
  const cols = columns.map((c) => c.name);
  const list = cols.map((c) => `"${c}"`).join(", ");
  const source = new Digest();
  const batchRows = Math.max(1, Math.floor(20_000 / cols.length));
  let batch: unknown[][] = [];
  const flush = async () => {
    if (!batch.length) return;
    const values = batch.map((_, i) => `(${cols.map((__, j) => `$${i * cols.length + j + 1}`).join(", ")})`).join(", ");
    await t.unsafe(`INSERT INTO "${table}" (${list}) VALUES ${values}`, batch.flat() as never[]);
    batch = [];
  };
  for (const r of src.prepare(`SELECT ${list} FROM "${table}" ORDER BY ${orderBy(columns, false)}`).iterate() as Iterable<Record<string, unknown>>) {
    source.add(cols, r);
    batch.push(cols.map((c) => r[c] ?? null));
    if (batch.length >= batchRows) await flush();
  }
  await flush();
  // Identity columns continue after the copied values.
  for (const c of columns.filter((x) => x.pk > 0 && /INT/i.test(x.type))) {
    const [seq] = await t.unsafe("SELECT pg_get_serial_sequence($1, $2) AS s", [table, c.name]);
    if (seq?.s) await t.unsafe(`SELECT setval($1, (SELECT COALESCE(MAX("${c.name}"), 0) + 1 FROM "${table}"), false)`, [seq.s as string]);
  }
  const target = new Digest();
  for await (const rows of t.unsafe(`SELECT ${list} FROM "${table}" ORDER BY ${orderBy(columns, true)}`).cursor(1000))
    for (const r of rows) target.add(cols, r);
  const copy = { table, rows: source.rows, checksum: source.hex(), targetChecksum: target.hex() };
  if (copy.checksum !== copy.targetChecksum || target.rows !== source.rows) {
    throw new SandboxerError(
      "SBX_STORE",
      `table '${table}': ${source.rows} rows read, ${target.rows} written, checksums differ (${copy.checksum.slice(0, 12)} vs ${copy.targetChecksum.slice(0, 12)}); nothing was copied`,
    );
  }
  return copy;
}
