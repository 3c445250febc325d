import type { Migration } from "./index.js";

/**
 * Credits ledger (issue 6). Amounts are integer micro-credits (1e-6) so
 * per-second settlement never accumulates float error. The CHECK constraints
 * are the last fence: no code path can leave a balance negative or hold more
 * in reservations than the balance covers, even under concurrent creates.
 */
export const m003: Migration = {
  version: 3,
  name: "credits accounts, ledger and reservations",
  sql: `
CREATE TABLE credit_accounts (
  account TEXT PRIMARY KEY,
  balance_micro INTEGER NOT NULL DEFAULT 0 CHECK (balance_micro >= 0),
  reserved_micro INTEGER NOT NULL DEFAULT 0 CHECK (reserved_micro >= 0),
  updated_at TEXT NOT NULL,
  CHECK (reserved_micro <= balance_micro)
);

CREATE TABLE credit_ledger (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  account TEXT NOT NULL,
  sandbox_id TEXT,
  kind TEXT NOT NULL CHECK (kind IN ('add', 'reserve', 'debit', 'release')),
  amount_micro INTEGER NOT NULL,
  balance_micro INTEGER NOT NULL,
  reserved_micro INTEGER NOT NULL,
  at TEXT NOT NULL,
  data TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX credit_ledger_account ON credit_ledger(account, seq);
CREATE INDEX credit_ledger_at ON credit_ledger(at);

CREATE TABLE credit_reservations (
  sandbox_id TEXT PRIMARY KEY,
  account TEXT NOT NULL,
  amount_micro INTEGER NOT NULL CHECK (amount_micro >= 0),
  price_per_hour REAL NOT NULL,
  currency TEXT NOT NULL,
  at TEXT NOT NULL,
  settled_at TEXT,
  debited_micro INTEGER
);
CREATE INDEX credit_reservations_open ON credit_reservations(account) WHERE settled_at IS NULL;

-- Routing reads measured time-to-ready per extension and host from recent records.
-- Covering (ready_at included) so the p50 read never touches the table rows.
CREATE INDEX sandboxes_ready_stats ON sandboxes(extension, host, created_at, ready_at) WHERE ready_at IS NOT NULL;
`,
};
