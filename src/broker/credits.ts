/**
 * Credits as the broker applies them (the arithmetic is src/credits/): hold
 * price x TTL inside the create transaction, settle inside the transition that
 * closes a sandbox, grow the hold with extend-ttl, give it back on failover.
 * Every function takes the transaction it must run in (or opens one), so a
 * reservation commits or rolls back with the record it pays for.
 */
import {
  type Account,
  accountFor,
  DEFAULT_ACCOUNT,
  formatCredits,
  type LedgerEntry,
  parseCredits,
  reservationFor,
  settlement,
  toAccount,
  toCredits,
  toEntry,
} from "../credits/index.js";
import { SandboxerError } from "../errors.js";
import type { IdGen } from "../ids.js";
import type { AccountRow, LedgerKind, Repos, Tx } from "../store/types.js";
import type { Clock, SandboxRow, SandboxState } from "../types.js";

export interface LedgerDeps {
  clock: Clock;
  ids: IdGen;
}

async function save(
  t: Tx,
  r: AccountRow,
  kind: LedgerKind,
  amountMicro: number,
  sandboxId: string | null,
  at: string,
  data: Record<string, unknown> = {},
): Promise<void> {
  r.updatedAt = at;
  await t.credits.saveAccount(r);
  await t.credits.appendEntry({ account: r.account, sandboxId, kind, amountMicro, balanceMicro: r.balanceMicro, reservedMicro: r.reservedMicro, at, data });
}

export async function creditAccounts(db: Repos, account?: string): Promise<Account[]> {
  if (account !== undefined) return [toAccount(await db.credits.account(account))];
  return (await db.credits.accounts()).map(toAccount);
}

export async function creditHistory(
  db: Repos,
  q: { account?: string | undefined; since?: string | undefined; limit?: number | undefined } = {},
): Promise<LedgerEntry[]> {
  return (await db.credits.history(q)).map(toEntry);
}

/** `credits add`: `amount` in credits (a number or its text), at most 6 decimals. */
export function addCredits(deps: LedgerDeps, db: Repos, account: string, amount: number | string, note?: string): Promise<Account> {
  const micro = parseCredits(String(amount));
  return db.tx(async (t) => {
    const at = deps.clock.now().toISOString();
    const r = await t.credits.account(account);
    r.balanceMicro += micro;
    await save(t, r, "add", micro, null, at, note ? { note } : {});
    await t.events.append({
      id: deps.ids("evt"),
      type: "credits.added",
      sandboxId: null,
      at,
      actor: "adm",
      project: account === DEFAULT_ACCOUNT ? null : account,
      data: { account, amount: toCredits(micro), balance: toCredits(r.balanceMicro) },
    });
    return toAccount(r);
  });
}

/**
 * Hold the worst case (price x TTL) for a metered sandbox, inside the
 * transaction that inserts (or moves) its record: the write lock serialises
 * concurrent creates, so the balance check and the hold are one atomic step.
 * Throws SBX_INSUFFICIENT_CREDITS (the transaction rolls back: no record).
 * Sets `row.cost`. Free sandboxes reserve nothing.
 */
export async function reserveCredits(
  deps: LedgerDeps,
  t: Tx,
  row: SandboxRow,
  registration: { pricePerHour: number; currency: string },
  account = accountFor(row.project),
): Promise<number> {
  const { pricePerHour, currency } = registration;
  const ttl = row.ttlSeconds ?? 0;
  const micro = reservationFor(pricePerHour, ttl);
  row.cost = { ...(row.cost ?? {}), pricePerHour, currency, reserved: toCredits(micro), settled: 0 };
  if (micro <= 0) return 0;
  const at = deps.clock.now().toISOString();
  const r = await t.credits.account(account);
  const available = r.balanceMicro - r.reservedMicro;
  if (available < micro) {
    throw new SandboxerError(
      "SBX_INSUFFICIENT_CREDITS",
      `account '${account}' has ${formatCredits(available)} credits available; ${row.extension} at ${pricePerHour}/h for ${ttl}s needs ${formatCredits(micro)} (sandboxer credits add AMOUNT${row.project ? ` --project ${row.project}` : ""})`,
      { details: { account, available: toCredits(available), needed: toCredits(micro) } },
    );
  }
  r.reservedMicro += micro;
  await save(t, r, "reserve", micro, row.id, at, { extension: row.extension, pricePerHour, ttlSeconds: ttl });
  await t.credits.putReservation({ sandboxId: row.id, account, amountMicro: micro, pricePerHour, currency, at });
  return micro;
}

/** Give a reservation back untouched (a failover moved the sandbox to another backend). */
export async function releaseReservation(deps: LedgerDeps, t: Tx, sandboxId: string, why: string): Promise<void> {
  const res = await t.credits.openReservation(sandboxId);
  if (!res) return;
  const r = await t.credits.account(res.account);
  r.reservedMicro -= res.amountMicro;
  await save(t, r, "release", res.amountMicro, sandboxId, deps.clock.now().toISOString(), { why });
  await t.credits.deleteReservation(sandboxId);
}

const CLOSING: readonly SandboxState[] = ["destroyed", "failed"];

/**
 * Inside the transition that closes a record: debit what it used, release the
 * rest, put the figures on the record's `cost`. Idempotent (a settled
 * reservation is left alone); a no-op for sandboxes that reserved nothing.
 */
export async function settleOnClose(deps: LedgerDeps, t: Tx, row: SandboxRow): Promise<void> {
  if (!CLOSING.includes(row.state)) return;
  await settle(deps, t, row);
}

/**
 * A warm pool member is claimed: its idle time so far is debited to the pool
 * account (the hold made at refill closes), so the consumer's own hold, made
 * next, is charged from the claim only. Inside the claim's transaction.
 */
export async function settleIdle(deps: LedgerDeps, t: Tx, row: SandboxRow): Promise<void> {
  await settle(deps, t, row, { idle: true });
  await t.credits.deleteReservation(row.id);
}

async function settle(deps: LedgerDeps, t: Tx, row: SandboxRow, given: Record<string, unknown> = {}): Promise<void> {
  const res = await t.credits.openReservation(row.id);
  if (!res) return;
  // A warm member's idle time names its pool, so the pool account's spend can be told apart per pool (the dashboard's pools page).
  const note = row.pool ? { ...given, pool: row.pool } : given;
  const now = deps.clock.now();
  const at = now.toISOString();
  // Charged from ready, or from the hold when it came later (a pool member claimed after idling).
  const from = row.readyAt && res.at > row.readyAt ? res.at : row.readyAt;
  const s = settlement(res.amountMicro, res.pricePerHour, from, now);
  const r = await t.credits.account(res.account);
  r.reservedMicro -= res.amountMicro;
  r.balanceMicro -= s.debit;
  r.updatedAt = at;
  await t.credits.saveAccount(r);
  const entry = { account: r.account, sandboxId: row.id, balanceMicro: r.balanceMicro, reservedMicro: r.reservedMicro, at };
  if (s.debit > 0)
    await t.credits.appendEntry({ ...entry, kind: "debit", amountMicro: s.debit, data: { seconds: s.seconds, pricePerHour: res.pricePerHour, ...note } });
  if (s.release > 0) await t.credits.appendEntry({ ...entry, kind: "release", amountMicro: s.release, data: { ...note } });
  await t.credits.settleReservation(row.id, at, s.debit);
  await t.events.append({
    id: deps.ids("evt"),
    type: "credits.debited",
    sandboxId: row.id,
    at,
    actor: row.actor,
    project: row.project,
    data: {
      account: res.account,
      amount: toCredits(s.debit),
      seconds: s.seconds,
      pricePerHour: res.pricePerHour,
      released: toCredits(s.release),
      currency: res.currency,
      ...note,
    },
  });
  if (note.idle) return;
  const cost = {
    pricePerHour: res.pricePerHour,
    currency: res.currency,
    reserved: toCredits(res.amountMicro),
    settled: toCredits(s.debit),
    seconds: s.seconds,
  };
  await t.sandboxes.update(row.id, { cost: { ...(row.cost ?? {}), ...cost } });
}

/** Grow a reservation when a TTL grows; refuses (no change) when the account cannot cover it. */
export async function holdForExtension(deps: LedgerDeps, t: Tx, row: SandboxRow, newTtlSeconds: number): Promise<number> {
  const extraSeconds = newTtlSeconds - (row.ttlSeconds ?? 0);
  if (extraSeconds <= 0) return 0;
  const res = await t.credits.openReservation(row.id);
  if (!res) return 0;
  const micro = reservationFor(res.pricePerHour, extraSeconds);
  const r = await t.credits.account(res.account);
  if (r.balanceMicro - r.reservedMicro < micro) {
    throw new SandboxerError(
      "SBX_INSUFFICIENT_CREDITS",
      `account '${res.account}' cannot cover ${formatCredits(micro)} more credits for ${extraSeconds}s of ${row.id}`,
      { details: { account: res.account } },
    );
  }
  r.reservedMicro += micro;
  await save(t, r, "reserve", micro, row.id, deps.clock.now().toISOString(), { extendSeconds: extraSeconds });
  await t.credits.growReservation(row.id, micro);
  return micro;
}
