import type { Migration } from "./index.js";

/**
 * Dashboard sessions in the store, so a browser signed in on one `serve`
 * replica is signed in on all of them and a restart signs nobody out. Only a
 * digest of the session id is kept (the cookie value opens nothing found
 * here), and the bearer token by its id: its secret never reaches this table.
 * `last_seen` orders the idle sweep and the cap on sessions kept.
 */
export const m015: Migration = {
  version: 15,
  name: "dashboard sessions",
  sql: `
CREATE TABLE ui_sessions (
  key TEXT PRIMARY KEY,
  token_id TEXT NOT NULL,
  csrf TEXT NOT NULL,
  created_at TEXT NOT NULL,
  last_seen TEXT NOT NULL
);
CREATE INDEX ui_sessions_seen ON ui_sessions(last_seen);
CREATE INDEX ui_sessions_token ON ui_sessions(token_id);
`,
};
