import type { Migration } from "./index.js";

/**
 * API bearer tokens (only a SHA-256 of the secret is kept) and the request
 * fingerprint behind each idempotency key, so a reused key with a different
 * body can be refused instead of silently returning another sandbox.
 */
export const m004: Migration = {
  version: 4,
  name: "api tokens and idempotency fingerprints",
  sql: `
CREATE TABLE api_tokens (
  id TEXT PRIMARY KEY,
  secret_hash TEXT NOT NULL UNIQUE,
  actor TEXT NOT NULL,
  project TEXT,
  name TEXT,
  created_at TEXT NOT NULL,
  last_used_at TEXT,
  revoked_at TEXT
);

CREATE TABLE idempotency_keys (
  key TEXT PRIMARY KEY,
  request_hash TEXT NOT NULL,
  sandbox_id TEXT NOT NULL,
  created_at TEXT NOT NULL
);
`,
};
