import type { Env, Paths } from "../paths.js";
import { SqliteStore } from "./sqlite.js";
import type { Store } from "./types.js";

/**
 * The store this process uses: SQLite in $SANDBOXER_HOME (WAL) by default.
 * Another driver plugs in here (e.g. SANDBOXER_DATABASE_URL=postgres://...),
 * so the broker and the CLI's read path never name a driver.
 */
export function openStore(paths: Paths, _env: Env): Store {
  return new SqliteStore(paths.db);
}
