/**
 * The credits ledger: accounts per project, reservations per sandbox, and an
 * append-only history. Every function here runs inside the caller's store
 * transaction (or opens one), so a reservation commits or rolls back together
 * with the sandbox record it pays for. See docs/payments.md.
 */
import { SandboxerError } from "../errors.js";
import type { IdGen } from "../ids.js";
import type { SqliteStore } from "../store/sqlite.js";
import type { Clock, SandboxRow } from "../types.js";
import { costOf, formatCredits, reservationFor, toCredits } from "./amount.js";

/** The account a sandbox without a project draws on. */
export const DEFAULT_ACCOUNT = "default";

export interface LedgerDeps {
  store: SqliteStore;
  clock: Clock;
  ids: IdGen;
}

export interface Account {
  account: string;
  balance: number;
  reserved: number;
  available: number;
  updatedAt: string | null;
}

export interface LedgerEntry {
  seq: number;
  account: string;
  sandboxId: string | null;
  kind: "add" | "reserve" | "debit" | "release";
  amount: number;
  balance: number;
  reserved: number;
  at: string;
  data: Record<string, unknown>;
}

export function accountFor(project: string | null | undefined): string {
  return project || DEFAULT_ACCOUNT;
}

interface AccountRow {
  account: string;
  balance_micro: number;
  reserved_micro: number;
  updated_at: string;
}

function readAccount(store: SqliteStore, account: string): AccountRow {
  const row = store.db.prepare("SELECT * FROM credit_accounts WHERE account = ?").get(account) as AccountRow | undefined;
  return row ?? { account, balance_micro: 0, reserved_micro: 0, updated_at: "" };
}

function toAccount(r: AccountRow): Account {
  return {
    account: r.account,
    balance: toCredits(r.balance_micro),
    reserved: toCredits(r.reserved_micro),
    available: toCredits(r.balance_micro - r.reserved_micro),
    updatedAt: r.updated_at || null,
  };
}

function writeAccount(store: SqliteStore, r: AccountRow, at: string): void {
  r.updated_at = at;
  store.db
    .prepare(
      "INSERT INTO credit_accounts (account, balance_micro, reserved_micro, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT(account) DO UPDATE SET balance_micro = excluded.balance_micro, reserved_micro = excluded.reserved_micro, updated_at = excluded.updated_at",
    )
    .run(r.account, r.balance_micro, r.reserved_micro, at);
}

function append(store: SqliteStore, r: AccountRow, kind: LedgerEntry["kind"], amount: number, sandboxId: string | null, at: string, data: Record<string, unknown> = {}): void {
  store.db
    .prepare("INSERT INTO credit_ledger (account, sandbox_id, kind, amount_micro, balance_micro, reserved_micro, at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
    .run(r.account, sandboxId, kind, amount, r.balance_micro, r.reserved_micro, at, JSON.stringify(data));
}

export function getAccount(store: SqliteStore, account: string): Account {
  return toAccount(readAccount(store, account));
}

export function listAccounts(store: SqliteStore): Account[] {
  return (store.db.prepare("SELECT * FROM credit_accounts ORDER BY account").all() as AccountRow[]).map(toAccount);
}

/** Available micro-credits per account, for routing (one small query). */
export function availableByAccount(store: SqliteStore): Map<string, number> {
  const rows = store.db.prepare("SELECT account, balance_micro - reserved_micro AS avail FROM credit_accounts").all() as { account: string; avail: number }[];
  return new Map(rows.map((r) => [r.account, r.avail]));
}

export function addCredits(deps: LedgerDeps, account: string, micro: number, note?: string): Account {
  return deps.store.write(() => {
    const at = deps.clock.now().toISOString();
    const r = readAccount(deps.store, account);
    r.balance_micro += micro;
    writeAccount(deps.store, r, at);
    append(deps.store, r, "add", micro, null, at, note ? { note } : {});
    deps.store.appendEvent({ id: deps.ids("evt"), type: "credits.added", sandboxId: null, at, actor: "adm", project: account === DEFAULT_ACCOUNT ? null : account, data: { account, amount: toCredits(micro), balance: toCredits(r.balance_micro) } });
    return toAccount(r);
  });
}

/**
 * Hold the worst case (price x TTL) for a metered sandbox. Call inside the
 * transaction that inserts the record: BEGIN IMMEDIATE serialises concurrent
 * creates, so the balance check and the hold are one atomic step.
 * Mutates `row.cost.reserved`. Free sandboxes reserve nothing.
 */
export function reserveForSandbox(deps: LedgerDeps, row: SandboxRow, pricePerHour: number, currency: string): number {
  const ttl = row.ttlSeconds ?? 0;
  const micro = reservationFor(pricePerHour, ttl);
  row.cost = { ...(row.cost ?? {}), pricePerHour, currency, reserved: toCredits(micro), settled: 0 };
  if (micro <= 0) return 0;
  const at = deps.clock.now().toISOString();
  const account = accountFor(row.project);
  const r = readAccount(deps.store, account);
  const available = r.balance_micro - r.reserved_micro;
  if (available < micro) {
    throw new SandboxerError(
      "SBX_INSUFFICIENT_CREDITS",
      `account '${account}' has ${formatCredits(available)} credits available; ${row.extension} at ${pricePerHour}/h for ${ttl}s needs ${formatCredits(micro)} (sandboxer credits add AMOUNT${row.project ? ` --project ${row.project}` : ""})`,
      { details: { account, available: toCredits(available), needed: toCredits(micro) } },
    );
  }
  r.reserved_micro += micro;
  writeAccount(deps.store, r, at);
  append(deps.store, r, "reserve", micro, row.id, at, { extension: row.extension, pricePerHour, ttlSeconds: ttl });
  deps.store.db
    .prepare("INSERT INTO credit_reservations (sandbox_id, account, amount_micro, price_per_hour, currency, at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(sandbox_id) DO UPDATE SET amount_micro = excluded.amount_micro, price_per_hour = excluded.price_per_hour, currency = excluded.currency, at = excluded.at, settled_at = NULL")
    .run(row.id, account, micro, pricePerHour, currency, at);
  return micro;
}

interface ReservationRow {
  sandbox_id: string;
  account: string;
  amount_micro: number;
  price_per_hour: number;
  currency: string;
  settled_at: string | null;
}

function openReservation(store: SqliteStore, sandboxId: string): ReservationRow | undefined {
  return store.db.prepare("SELECT * FROM credit_reservations WHERE sandbox_id = ? AND settled_at IS NULL").get(sandboxId) as ReservationRow | undefined;
}

/** Give a reservation back untouched (a failover moved the sandbox to another backend). */
export function releaseReservation(deps: LedgerDeps, sandboxId: string, why: string): void {
  const res = openReservation(deps.store, sandboxId);
  if (!res) return;
  const at = deps.clock.now().toISOString();
  const r = readAccount(deps.store, res.account);
  r.reserved_micro -= res.amount_micro;
  writeAccount(deps.store, r, at);
  append(deps.store, r, "release", res.amount_micro, sandboxId, at, { why });
  deps.store.db.prepare("DELETE FROM credit_reservations WHERE sandbox_id = ?").run(sandboxId);
}

/**
 * Settle a closed sandbox: debit the per-second cost of the time it was ready
 * (readyAt -> now, capped at what was reserved) and release the rest. Failed
 * provisions are not billed. Idempotent: a settled reservation is left alone.
 * Returns the cost patch for the record, or null when nothing was reserved.
 */
export function settleSandbox(deps: LedgerDeps, row: SandboxRow): Record<string, number | string> | null {
  const res = openReservation(deps.store, row.id);
  if (!res) return null;
  const now = deps.clock.now();
  const at = now.toISOString();
  const seconds = row.readyAt ? (now.getTime() - Date.parse(row.readyAt)) / 1000 : 0;
  const debit = Math.min(res.amount_micro, row.readyAt ? costOf(res.price_per_hour, seconds) : 0);
  const r = readAccount(deps.store, res.account);
  r.reserved_micro -= res.amount_micro;
  r.balance_micro -= debit;
  writeAccount(deps.store, r, at);
  if (debit > 0) append(deps.store, r, "debit", debit, row.id, at, { seconds: Math.ceil(seconds), pricePerHour: res.price_per_hour });
  if (res.amount_micro - debit > 0) append(deps.store, r, "release", res.amount_micro - debit, row.id, at, {});
  deps.store.db.prepare("UPDATE credit_reservations SET settled_at = ?, debited_micro = ? WHERE sandbox_id = ?").run(at, debit, row.id);
  deps.store.appendEvent({
    id: deps.ids("evt"),
    type: "credits.debited",
    sandboxId: row.id,
    at,
    actor: row.actor,
    project: row.project,
    data: { account: res.account, amount: toCredits(debit), seconds: Math.ceil(seconds), pricePerHour: res.price_per_hour, released: toCredits(res.amount_micro - debit), currency: res.currency },
  });
  return { pricePerHour: res.price_per_hour, currency: res.currency, reserved: toCredits(res.amount_micro), settled: toCredits(debit), seconds: Math.ceil(seconds) };
}

/** Grow a reservation when a TTL is extended; refuses (no change) when the account cannot cover it. */
export function extendReservation(deps: LedgerDeps, row: SandboxRow, extraSeconds: number): number {
  return deps.store.write(() => {
    const res = openReservation(deps.store, row.id);
    if (!res || extraSeconds <= 0) return 0;
    const micro = reservationFor(res.price_per_hour, extraSeconds);
    const at = deps.clock.now().toISOString();
    const r = readAccount(deps.store, res.account);
    if (r.balance_micro - r.reserved_micro < micro) {
      throw new SandboxerError("SBX_INSUFFICIENT_CREDITS", `account '${res.account}' cannot cover ${formatCredits(micro)} more credits for ${extraSeconds}s of ${row.id}`, { details: { account: res.account } });
    }
    r.reserved_micro += micro;
    writeAccount(deps.store, r, at);
    append(deps.store, r, "reserve", micro, row.id, at, { extendSeconds: extraSeconds });
    deps.store.db.prepare("UPDATE credit_reservations SET amount_micro = amount_micro + ? WHERE sandbox_id = ?").run(micro, row.id);
    return micro;
  });
}

interface EntryRow {
  seq: number;
  account: string;
  sandbox_id: string | null;
  kind: LedgerEntry["kind"];
  amount_micro: number;
  balance_micro: number;
  reserved_micro: number;
  at: string;
  data: string;
}

function toEntry(r: EntryRow): LedgerEntry {
  return {
    seq: r.seq,
    account: r.account,
    sandboxId: r.sandbox_id,
    kind: r.kind,
    amount: toCredits(r.amount_micro),
    balance: toCredits(r.balance_micro),
    reserved: toCredits(r.reserved_micro),
    at: r.at,
    data: JSON.parse(r.data),
  };
}

export function history(store: SqliteStore, opts: { account?: string | undefined; since?: string | undefined; limit?: number | undefined } = {}): LedgerEntry[] {
  const rows = store.db
    .prepare(
      `SELECT * FROM credit_ledger WHERE (@account IS NULL OR account = @account) AND (@since IS NULL OR at >= @since) ORDER BY seq ${opts.since ? "" : "DESC"} LIMIT @limit`,
    )
    .all({ account: opts.account ?? null, since: opts.since ?? null, limit: opts.limit ?? -1 }) as EntryRow[];
  const out = rows.map(toEntry);
  return opts.since ? out : out.reverse();
}
