import type { Conn, Sync } from "./sqlite-conn.js";
import type { AccountRow, CreditRepo, HistoryQuery, LedgerRow, ReservationRow } from "./types.js";

/**
 * The credits ledger's tables (migration 003). The CHECK constraints there are
 * the last fence: no balance below zero, no more reserved than the balance.
 */
type RawAccount = { account: string; balance_micro: number; reserved_micro: number; updated_at: string };
type RawEntry = {
  seq: number;
  account: string;
  sandbox_id: string | null;
  kind: LedgerRow["kind"];
  amount_micro: number;
  balance_micro: number;
  reserved_micro: number;
  at: string;
  data: string;
};
type RawReservation = { sandbox_id: string; account: string; amount_micro: number; price_per_hour: number; currency: string; at: string };

const toAccount = (r: RawAccount): AccountRow => ({
  account: r.account,
  balanceMicro: r.balance_micro,
  reservedMicro: r.reserved_micro,
  updatedAt: r.updated_at,
});

const toEntry = (r: RawEntry): LedgerRow => ({
  seq: r.seq,
  account: r.account,
  sandboxId: r.sandbox_id,
  kind: r.kind,
  amountMicro: r.amount_micro,
  balanceMicro: r.balance_micro,
  reservedMicro: r.reserved_micro,
  at: r.at,
  data: JSON.parse(r.data),
});

export function sqliteCredits(c: Conn): Sync<CreditRepo> {
  return {
    account(account) {
      const r = c.stmt("SELECT * FROM credit_accounts WHERE account = ?").get(account) as RawAccount | undefined;
      return r ? toAccount(r) : { account, balanceMicro: 0, reservedMicro: 0, updatedAt: "" };
    },
    saveAccount(a) {
      c.stmt(
        "INSERT INTO credit_accounts (account, balance_micro, reserved_micro, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT(account) DO UPDATE SET balance_micro = excluded.balance_micro, reserved_micro = excluded.reserved_micro, updated_at = excluded.updated_at",
      ).run(a.account, a.balanceMicro, a.reservedMicro, a.updatedAt);
    },
    accounts() {
      return (c.stmt("SELECT * FROM credit_accounts ORDER BY account").all() as RawAccount[]).map(toAccount);
    },
    available() {
      const rows = c.stmt("SELECT account, balance_micro - reserved_micro AS avail FROM credit_accounts").all() as { account: string; avail: number }[];
      return new Map(rows.map((r) => [r.account, r.avail]));
    },
    appendEntry(e) {
      c.stmt(
        "INSERT INTO credit_ledger (account, sandbox_id, kind, amount_micro, balance_micro, reserved_micro, at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      ).run(e.account, e.sandboxId, e.kind, e.amountMicro, e.balanceMicro, e.reservedMicro, e.at, JSON.stringify(e.data));
    },
    history(q: HistoryQuery = {}) {
      const sql = `SELECT * FROM credit_ledger WHERE (@account IS NULL OR account = @account) AND (@since IS NULL OR at >= @since) ORDER BY seq ${q.since ? "" : "DESC"} LIMIT @limit`;
      const rows = (c.stmt(sql).all({ account: q.account ?? null, since: q.since ?? null, limit: q.limit ?? -1 }) as RawEntry[]).map(toEntry);
      return q.since ? rows : rows.reverse();
    },
    openReservation(sandboxId) {
      const r = c.stmt("SELECT * FROM credit_reservations WHERE sandbox_id = ? AND settled_at IS NULL").get(sandboxId) as RawReservation | undefined;
      if (!r) return undefined;
      const out: ReservationRow = {
        sandboxId: r.sandbox_id,
        account: r.account,
        amountMicro: r.amount_micro,
        pricePerHour: r.price_per_hour,
        currency: r.currency,
        at: r.at,
      };
      return out;
    },
    putReservation(r) {
      c.stmt(
        "INSERT INTO credit_reservations (sandbox_id, account, amount_micro, price_per_hour, currency, at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(sandbox_id) DO UPDATE SET amount_micro = excluded.amount_micro, price_per_hour = excluded.price_per_hour, currency = excluded.currency, at = excluded.at, settled_at = NULL",
      ).run(r.sandboxId, r.account, r.amountMicro, r.pricePerHour, r.currency, r.at);
    },
    deleteReservation(sandboxId) {
      c.stmt("DELETE FROM credit_reservations WHERE sandbox_id = ?").run(sandboxId);
    },
    settleReservation(sandboxId, at, debitedMicro) {
      c.stmt("UPDATE credit_reservations SET settled_at = ?, debited_micro = ? WHERE sandbox_id = ?").run(at, debitedMicro, sandboxId);
    },
    growReservation(sandboxId, micro) {
      c.stmt("UPDATE credit_reservations SET amount_micro = amount_micro + ? WHERE sandbox_id = ?").run(micro, sandboxId);
    },
  };
}
