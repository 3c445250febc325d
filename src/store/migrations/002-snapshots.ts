import type { Migration } from "./index.js";

/**
 * Workspace snapshots. The archive lives under $SANDBOXER_HOME/snapshots/<file>;
 * the row keeps enough of the source request (profile, inputs, extension, host)
 * to create a new sandbox from it after the source is gone.
 */
export const m002: Migration = {
  version: 2,
  name: "snapshots",
  sql: `
CREATE TABLE snapshots (
  id TEXT PRIMARY KEY,
  name TEXT,
  sandbox_id TEXT NOT NULL,
  profile TEXT NOT NULL,
  profile_version INTEGER NOT NULL,
  extension TEXT NOT NULL,
  host TEXT NOT NULL,
  inputs TEXT NOT NULL,
  actor TEXT NOT NULL,
  project TEXT,
  format TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  file TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX snapshots_sandbox ON snapshots(sandbox_id);
CREATE INDEX snapshots_created ON snapshots(created_at);
`,
};
