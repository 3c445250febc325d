import type { Migration } from "./index.js";

/**
 * Reconcile runs before every writing command and looks only at records whose
 * resources may still exist: index exactly those, so it stays cheap however
 * long the history grows.
 */
export const m005: Migration = {
  version: 5,
  name: "index of records with live resources",
  sql: "CREATE INDEX sandboxes_not_destroyed ON sandboxes(state) WHERE destroyed_at IS NULL;",
};
