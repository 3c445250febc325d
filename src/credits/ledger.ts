/**
 * The credits ledger's vocabulary and its arithmetic: accounts per project,
 * reservations per sandbox, an append-only history. Pure: the broker applies
 * these in store transactions (src/broker/credits.ts). See docs/payments.md.
 */
import { costOf, toCredits } from "./amount.js";

/** The account a sandbox without a project draws on. */
export const DEFAULT_ACCOUNT = "default";

/**
 * The operator's account that idle warm pool members draw on (docs/pools.md):
 * a consumer pays from its claim only. No project can be named so (project
 * names start with a letter or digit).
 */
export const POOL_ACCOUNT = "_pool";

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

/** An account as stored (integer micro-credits). */
export interface AccountMicro {
  account: string;
  balanceMicro: number;
  reservedMicro: number;
  updatedAt: string;
}

export function toAccount(r: AccountMicro): Account {
  return {
    account: r.account,
    balance: toCredits(r.balanceMicro),
    reserved: toCredits(r.reservedMicro),
    available: toCredits(r.balanceMicro - r.reservedMicro),
    updatedAt: r.updatedAt || null,
  };
}

/** A ledger entry as stored (integer micro-credits). */
export interface EntryMicro {
  seq: number;
  account: string;
  sandboxId: string | null;
  kind: LedgerEntry["kind"];
  amountMicro: number;
  balanceMicro: number;
  reservedMicro: number;
  at: string;
  data: Record<string, unknown>;
}

export function toEntry(r: EntryMicro): LedgerEntry {
  return {
    seq: r.seq,
    account: r.account,
    sandboxId: r.sandboxId,
    kind: r.kind,
    amount: toCredits(r.amountMicro),
    balance: toCredits(r.balanceMicro),
    reserved: toCredits(r.reservedMicro),
    at: r.at,
    data: r.data,
  };
}

export interface Settlement {
  /** Micro-credits debited: the per-second cost of the ready time, capped at the reservation. */
  debit: number;
  /** Micro-credits given back. */
  release: number;
  seconds: number;
}

/**
 * What closing a sandbox costs: the time it was ready (readyAt -> now), billed
 * per started second, never more than was reserved. Failed provisions
 * (never ready) cost nothing.
 */
export function settlement(reservedMicro: number, pricePerHour: number, readyAt: string | null, now: Date): Settlement {
  const seconds = readyAt ? (now.getTime() - Date.parse(readyAt)) / 1000 : 0;
  const debit = Math.min(reservedMicro, readyAt ? costOf(pricePerHour, seconds) : 0);
  return { debit, release: reservedMicro - debit, seconds: Math.ceil(seconds) };
}
