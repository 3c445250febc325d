import { SandboxerError } from "../errors.js";
import { type Env, resolvePaths } from "../paths.js";
import { publicRecord } from "../store/rows.js";
import { openStore } from "../store/open.js";
import type { EventQuery, SandboxFilter } from "../store/types.js";
import type { Sandbox, SandboxEvent } from "../types.js";

/** The read side of the broker: records and events only, no catalog, no extensions. */
export interface Reader {
  get(id: string): Promise<Sandbox>;
  list(filter?: SandboxFilter): Promise<Sandbox[]>;
  events(opts?: EventQuery): Promise<SandboxEvent[]>;
  close(): Promise<void>;
}

/**
 * Opens only the store, so `sandboxer list --json` starts in a few milliseconds
 * more than node itself (the catalog's yaml and zod are never loaded).
 */
export function openReader(env: Env = process.env): Reader {
  const store = openStore(resolvePaths(env), env);
  return {
    async get(id) {
      const sb = await store.sandboxes.getPublic(id);
      if (!sb) throw new SandboxerError("SBX_NOT_FOUND", `no sandbox '${id.slice(0, 64)}'`, { details: { id } });
      return sb;
    },
    list: async (filter = {}) => (await store.sandboxes.list({ ...filter, pool: "hide" })).map(publicRecord),
    events: (opts = {}) => store.events.list({ ...opts, pool: "hide" }),
    close: () => store.close(),
  };
}
