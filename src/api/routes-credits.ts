import { accountFor } from "../credits/index.js";
import { SandboxerError } from "../errors.js";
import { CreditHistory, CreditHistoryQuery, Credits, CreditsAdd, CreditsQuery, ErrorBody } from "./schemas.js";
import { type AnyRoute, COMMON_ERRORS, defineRoute } from "./spec.js";
import type { Principal } from "./tokens.js";

/**
 * The credits ledger (src/credits/) lives in the broker's store. Reservations
 * and debits happen inside create/destroy; these routes only read it, and let
 * an operator top an account up, as `sandboxer credits` does.
 */
function accountOf(p: Principal, project: string | undefined): string | undefined {
  if (p.actor !== "adm") return accountFor(p.project);
  return project === undefined ? undefined : accountFor(project);
}

export const creditRoutes: AnyRoute[] = [
  defineRoute({
    method: "get",
    path: "/v1/credits",
    operationId: "getCredits",
    summary: "Credit accounts: the caller's project; adm: every account, or ?project=",
    tag: "credits",
    auth: "token",
    query: CreditsQuery,
    responses: { 200: { description: "balances in credits", schema: Credits }, ...COMMON_ERRORS },
    async handle({ state, principal, query }) {
      return { status: 200, body: { accounts: await state.broker.credits({ account: accountOf(principal, query.project) }) } };
    },
  }),
  defineRoute({
    method: "get",
    path: "/v1/credits/history",
    operationId: "creditHistory",
    summary: "Ledger entries (add, reserve, debit, release) of the caller's project; adm: all or ?project=",
    tag: "credits",
    auth: "token",
    query: CreditHistoryQuery,
    responses: { 200: { description: "entries, oldest first", schema: CreditHistory }, ...COMMON_ERRORS },
    async handle({ state, principal, query }) {
      const since = query.since ? new Date(query.since.length === 10 ? `${query.since}T00:00:00Z` : query.since).toISOString() : undefined;
      const limit = query.limit ?? (since ? undefined : 50);
      return { status: 200, body: await state.broker.creditHistory({ account: accountOf(principal, query.project), since, limit }) };
    },
  }),
  defineRoute({
    method: "post",
    path: "/v1/credits",
    operationId: "addCredits",
    summary: "Add credits to an account; operators only",
    tag: "credits",
    auth: "adm",
    body: CreditsAdd,
    responses: { 200: { description: "the account after the top-up", schema: Credits }, ...COMMON_ERRORS, 403: { description: "operators only", schema: ErrorBody } },
    async handle({ state, body }) {
      if (body.project !== undefined && !/^[a-z0-9][a-z0-9_.-]{0,62}$/.test(body.project)) {
        throw new SandboxerError("SBX_USAGE", "body.project: must be a name of lowercase letters, digits, '_', '.', '-' (at most 63)", { details: { field: "project" } });
      }
      return { status: 200, body: { accounts: [await state.broker.addCredits({ account: accountFor(body.project ?? null), amount: body.amount, note: body.note })] } };
    },
  }),
];
