import type { Row } from "./pg-conn.js";
import type { PgCtx } from "./pg-ctx.js";
import type { AccountRow, CreditRepo, HistoryQuery, LedgerRow } from "./types.js";

/**
 * The credits ledger on Postgres. SQLite serialises every writer with its
 * database lock; here an account is serialised by a transaction-scoped
 * advisory lock on its name, taken by `account()` before the read (a row lock
 * alone cannot cover an account that has no row yet). The CHECK constraints
 * of migration 003 stay the last fence.
 */
const toAccount = (r: Row): AccountRow => ({
  account: r.account as string,
  balanceMicro: r.balance_micro as number,
  reservedMicro: r.reserved_micro as number,
  updatedAt: r.updated_at as string,
});

const toEntry = (r: Row): LedgerRow => ({
  seq: r.seq as number,
  account: r.account as string,
  sandboxId: (r.sandbox_id as string | null) ?? null,
  kind: r.kind as LedgerRow["kind"],
  amountMicro: r.amount_micro as number,
  balanceMicro: r.balance_micro as number,
  reservedMicro: r.reserved_micro as number,
  at: r.at as string,
  data: JSON.parse(r.data as string),
});

export function pgCredits(c: PgCtx): CreditRepo {
  return {
    async account(account) {
      if (c.inTx) await c.q("SELECT pg_advisory_xact_lock(hashtextextended('sandboxer.account:' || $1, 0))", [account]);
      const [r] = await c.q(`SELECT * FROM credit_accounts WHERE account = $1${c.inTx ? " FOR UPDATE" : ""}`, [account]);
      return r ? toAccount(r) : { account, balanceMicro: 0, reservedMicro: 0, updatedAt: "" };
    },
    async saveAccount(a) {
      await c.q(
        "INSERT INTO credit_accounts (account, balance_micro, reserved_micro, updated_at) VALUES ($1, $2, $3, $4) ON CONFLICT (account) DO UPDATE SET balance_micro = excluded.balance_micro, reserved_micro = excluded.reserved_micro, updated_at = excluded.updated_at",
        [a.account, a.balanceMicro, a.reservedMicro, a.updatedAt],
      );
    },
    async accounts() {
      return (await c.q("SELECT * FROM credit_accounts ORDER BY account")).map(toAccount);
    },
    async available() {
      const rows = await c.q("SELECT account, balance_micro - reserved_micro AS avail FROM credit_accounts");
      return new Map(rows.map((r) => [r.account as string, r.avail as number]));
    },
    async appendEntry(e) {
      await c.q(
        "INSERT INTO credit_ledger (account, sandbox_id, kind, amount_micro, balance_micro, reserved_micro, at, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        [e.account, e.sandboxId, e.kind, e.amountMicro, e.balanceMicro, e.reservedMicro, e.at, JSON.stringify(e.data)],
      );
    },
    async history(q: HistoryQuery = {}) {
      const args: unknown[] = [];
      const where: string[] = [];
      if (q.account !== undefined) {
        args.push(q.account);
        where.push(`account = $${args.length}`);
      }
      if (q.since !== undefined) {
        args.push(q.since);
        where.push(`at >= $${args.length}`);
      }
      let limit = "";
      if (q.limit !== undefined) {
        args.push(q.limit);
        limit = ` LIMIT $${args.length}`;
      }
      const sql = `SELECT * FROM credit_ledger ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq ${q.since ? "" : "DESC"}${limit}`;
      const rows = (await c.q(sql, args)).map(toEntry);
      return q.since ? rows : rows.reverse();
    },
    async openReservation(sandboxId) {
      const [r] = await c.q(`SELECT * FROM credit_reservations WHERE sandbox_id = $1 AND settled_at IS NULL${c.inTx ? " FOR UPDATE" : ""}`, [sandboxId]);
      if (!r) return undefined;
      return {
        sandboxId: r.sandbox_id as string,
        account: r.account as string,
        amountMicro: r.amount_micro as number,
        pricePerHour: r.price_per_hour as number,
        currency: r.currency as string,
        at: r.at as string,
      };
    },
    async putReservation(r) {
      await c.q(
        "INSERT INTO credit_reservations (sandbox_id, account, amount_micro, price_per_hour, currency, at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sandbox_id) DO UPDATE SET amount_micro = excluded.amount_micro, price_per_hour = excluded.price_per_hour, currency = excluded.currency, at = excluded.at, settled_at = NULL",
        [r.sandboxId, r.account, r.amountMicro, r.pricePerHour, r.currency, r.at],
      );
    },
    async deleteReservation(sandboxId) {
      await c.q("DELETE FROM credit_reservations WHERE sandbox_id = $1", [sandboxId]);
    },
    async settleReservation(sandboxId, at, debitedMicro) {
      await c.q("UPDATE credit_reservations SET settled_at = $1, debited_micro = $2 WHERE sandbox_id = $3", [at, debitedMicro, sandboxId]);
    },
    async growReservation(sandboxId, micro) {
      await c.q("UPDATE credit_reservations SET amount_micro = amount_micro + $1 WHERE sandbox_id = $2", [micro, sandboxId]);
    },
  };
}
