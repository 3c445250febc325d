import type { Env, Paths } from "../paths.js";
import { PostgresStore } from "./postgres.js";
import { SqliteStore } from "./sqlite.js";
import type { Store } from "./types.js";

/**
 * The store this process uses: PostgreSQL when SANDBOXER_DATABASE_URL is set
 * (the shared store of several `serve` replicas), else SQLite in
 * $SANDBOXER_HOME (WAL). The broker and the CLI's read path never name one.
 */
export function openStore(paths: Paths, env: Env): Store {
  const url = env.SANDBOXER_DATABASE_URL;
  if (url) return new PostgresStore(url);
  return new SqliteStore(paths.db);
}
