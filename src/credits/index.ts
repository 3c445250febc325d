/**
 * Credits: amounts (./amount.ts) and the ledger's arithmetic (./ledger.ts).
 * The broker reserves inside the create transaction and settles inside the
 * transition that closes a sandbox (src/broker/credits.ts); docs/payments.md
 * describes the model.
 */
export { accountFor, type Account, DEFAULT_ACCOUNT, type LedgerEntry, POOL_ACCOUNT, settlement, toAccount, toEntry } from "./ledger.js";
export { costOf, formatCredits, MICRO, parseCredits, reservationFor, toCredits } from "./amount.js";
