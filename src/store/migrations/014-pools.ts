import type { Migration } from "./index.js";

/**
 * Warm pools (issue 14). A pool member is an ordinary sandbox record with
 * `pool` set (the pool's key) while it belongs to the pool: lists and event
 * reads for consumers leave such rows out, so a member is invisible until it
 * is handed over (`pool` cleared in the claim's transaction). `pool_stage`
 * says where it is: warming (a refill is provisioning it), warm (ready,
 * unclaimed), claimed (a create took it; nothing applied yet), applying
 * (per-request work such as copying `repo` in is under way). An event keeps
 * the `pool` of its sandbox at the time it was written, so a member's refill
 * history stays hidden after the claim too. The `pools` table holds what
 * operators set at run time (`pools set`, `pools drain`) and each pool's
 * counters (hits, misses, refill lag).
 */
export const m014: Migration = {
  version: 14,
  name: "warm pools",
  sql: `
ALTER TABLE sandboxes ADD COLUMN pool TEXT;
ALTER TABLE sandboxes ADD COLUMN pool_stage TEXT;
CREATE INDEX sandboxes_pool ON sandboxes(pool, pool_stage, state) WHERE pool IS NOT NULL;
ALTER TABLE events ADD COLUMN pool TEXT;

CREATE TABLE pools (
  key TEXT PRIMARY KEY,
  profile TEXT NOT NULL,
  inputs TEXT NOT NULL,
  size INTEGER CHECK (size IS NULL OR size >= 0),
  max_idle_seconds INTEGER,
  hits INTEGER NOT NULL DEFAULT 0,
  misses INTEGER NOT NULL DEFAULT 0,
  short_since TEXT,
  lag_ms_sum INTEGER NOT NULL DEFAULT 0,
  lag_count INTEGER NOT NULL DEFAULT 0,
  lag_ms_last INTEGER,
  updated_at TEXT NOT NULL
);
`,
};
