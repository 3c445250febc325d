/**
 * Credits, as the broker uses them: reserve inside the create transaction,
 * settle inside the transition that closes a sandbox. The ledger itself is in
 * ledger.ts; docs/payments.md describes the model.
 */
import type { SandboxRow, SandboxState } from "../types.js";
import { type LedgerDeps, reserveForSandbox, settleSandbox } from "./ledger.js";

export { accountFor, addCredits, DEFAULT_ACCOUNT, extendReservation, getAccount, history, listAccounts, releaseReservation } from "./ledger.js";
export { formatCredits, parseCredits } from "./amount.js";

/**
 * Hold price x TTL for `row` before it is inserted, in the same transaction.
 * Throws SBX_INSUFFICIENT_CREDITS (the transaction rolls back: no record).
 */
export function reserveCredits(deps: LedgerDeps, row: SandboxRow, registration: { pricePerHour: number; currency: string }): void {
  reserveForSandbox(deps, row, registration.pricePerHour, registration.currency);
}

const CLOSING: readonly SandboxState[] = ["destroyed", "failed"];

/**
 * Called by the broker's `transition` inside its transaction: when a record
 * closes, debit what it used and release the rest, and put the figures on
 * the record's `cost`. A no-op for sandboxes that reserved nothing.
 */
export function settleOnClose(deps: LedgerDeps, row: SandboxRow): void {
  if (!CLOSING.includes(row.state)) return;
  const cost = settleSandbox(deps, row);
  if (cost) deps.store.patchRow(row.id, { cost: { ...(row.cost ?? {}), ...cost } });
}
