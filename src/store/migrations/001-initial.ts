import type { Migration } from "./index.js";

export const m001: Migration = {
  version: 1,
  name: "sandboxes and events outbox",
  sql: `
CREATE TABLE sandboxes (
  id TEXT PRIMARY KEY,
  profile TEXT NOT NULL,
  profile_version INTEGER NOT NULL,
  extension TEXT NOT NULL,
  mode TEXT,
  host TEXT NOT NULL,
  state TEXT NOT NULL,
  actor TEXT NOT NULL,
  project TEXT,
  inputs TEXT NOT NULL,
  created_at TEXT NOT NULL,
  ready_at TEXT,
  expires_at TEXT,
  destroyed_at TEXT,
  reason TEXT,
  reachability TEXT,
  route TEXT,
  cost TEXT,
  error TEXT,
  host_facts TEXT,
  ttl_seconds INTEGER,
  handle TEXT,
  owner_pid INTEGER,
  owner_start TEXT,
  idempotency_key TEXT,
  updated_at TEXT NOT NULL
);
CREATE INDEX sandboxes_state ON sandboxes(state);
CREATE INDEX sandboxes_project ON sandboxes(project);
CREATE INDEX sandboxes_created ON sandboxes(created_at);
CREATE INDEX sandboxes_expires ON sandboxes(expires_at) WHERE state = 'ready';
CREATE UNIQUE INDEX sandboxes_idem ON sandboxes(idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  sandbox_id TEXT,
  at TEXT NOT NULL,
  actor TEXT,
  project TEXT,
  data TEXT NOT NULL,
  delivered_at TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TEXT,
  last_error TEXT
);
CREATE INDEX events_sandbox ON events(sandbox_id, seq);
CREATE INDEX events_pending ON events(next_attempt_at) WHERE delivered_at IS NULL;

CREATE TABLE leases (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  expires_at TEXT NOT NULL
);
`,
};
