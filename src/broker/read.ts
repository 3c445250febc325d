import { SandboxerError } from "../errors.js";
import { type Env, resolvePaths } from "../paths.js";
import { publicRecord } from "../store/rows.js";
import type { SandboxFilter } from "../store/rows.js";
import { SqliteStore } from "../store/sqlite.js";
import type { Sandbox, SandboxEvent } from "../types.js";

/** The read side of the broker: records and events only, no catalog, no extensions. */
export interface Reader {
  get(id: string): Sandbox;
  list(filter?: SandboxFilter): Sandbox[];
  events(opts?: { sandboxId?: string | undefined; afterSeq?: number; limit?: number }): SandboxEvent[];
  close(): Promise<void>;
}

export function readRecord(store: SqliteStore, id: string): Sandbox {
  const row = store.getSandbox(id);
  if (!row) throw new SandboxerError("SBX_NOT_FOUND", `no sandbox '${id.slice(0, 64)}'`, { details: { id } });
  return publicRecord(row);
}

/**
 * Opens only the store, so `sandboxer list --json` starts in a few milliseconds
 * more than node itself (the catalog's yaml and zod are never loaded).
 */
export function openReader(env: Env = process.env): Reader {
  const store = new SqliteStore(resolvePaths(env).db);
  return {
    get: (id) => readRecord(store, id),
    list: (filter = {}) => store.listSandboxes(filter).map(publicRecord),
    events: (opts = {}) => store.listEvents(opts),
    close: async () => store.close(),
  };
}
