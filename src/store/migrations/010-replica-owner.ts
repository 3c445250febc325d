import type { Migration } from "./index.js";

/**
 * Several `serve` replicas on one database (issue 13): the owner of an
 * in-flight record is a replica id + pid + start time, and a heartbeat that
 * replicas on other machines judge by its age (they cannot see the pid).
 */
export const m010: Migration = {
  version: 10,
  name: "replica owner and heartbeat of in-flight records",
  sql: `
ALTER TABLE sandboxes ADD COLUMN owner_replica TEXT;
ALTER TABLE sandboxes ADD COLUMN owner_beat_at TEXT;
`,
};
