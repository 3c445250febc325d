/**
 * The store's administration as `sandboxer db` uses it: which store this
 * process would open, its migrations, and the copy of a SQLite store into
 * PostgreSQL. Like ./read.ts, a command may import this file directly (it
 * never opens the catalog or an extension).
 */
import { SandboxerError } from "../errors.js";
import { type Env, resolvePaths } from "../paths.js";
import { type MigrationStatus, migrateStore, postgresStatus, sqliteStatus } from "../store/admin.js";
import { copySqliteToPostgres, type TableCopy } from "../store/copy.js";

export type { MigrationStatus } from "../store/admin.js";
export type { TableCopy } from "../store/copy.js";

/** The SQLite store in $SANDBOXER_HOME, and the shared one when SANDBOXER_DATABASE_URL is set. */
export async function dbStatus(env: Env): Promise<MigrationStatus[]> {
  const out = [sqliteStatus(resolvePaths(env).db)];
  if (env.SANDBOXER_DATABASE_URL) out.push(await postgresStatus(env.SANDBOXER_DATABASE_URL));
  return out;
}

/** Apply pending migrations to the store this process uses. */
export function dbMigrate(env: Env): Promise<{ store: MigrationStatus["store"]; where: string; applied: number[] }> {
  const url = env.SANDBOXER_DATABASE_URL;
  return migrateStore(url ? { postgres: url } : { sqlite: resolvePaths(env).db });
}

/** Copy the SQLite store of $SANDBOXER_HOME into the PostgreSQL database at `to`. */
export function dbCopy(env: Env, to: string, opts: { replace?: boolean } = {}): Promise<TableCopy[]> {
  if (!/^postgres(ql)?:\/\//.test(to)) {
    throw new SandboxerError("SBX_USAGE", "--to: a postgres://user[:password]@host[:port]/database URL", { details: { field: "to" } });
  }
  return copySqliteToPostgres(resolvePaths(env).db, to, opts);
}
