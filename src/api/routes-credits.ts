import { accountFor, POOL_ACCOUNT } from "../credits/index.js";
import { SandboxerError } from "../errors.js";
import { CreditHistory, CreditHistoryQuery, Credits, CreditsAdd, CreditsQuery, ErrorBody } from "./schemas.js";
import { type AnyRoute, COMMON_ERRORS, defineRoute } from "./spec.js";
import type { Principal } from "./tokens.js";

/**
 * The credits ledger (src/credits/) lives in the broker's store. Reservations
 * and debits happen inside create/destroy; these routes only read it, and let
 * an operator top an account up, as `sandboxer credits` does.
 */
/**
 * The account a request reads (docs/payments.md, "Who reads which account").
 * Operators: any, by project name, `default`, or `_pool` (the warm pools'
 * account). A tenant token is bound to its project: whatever project it
 * names, it is answered its own account, never another's. The pool account
 * is no project's: it holds the idle time of every pool, including pools of
 * profiles the tenant may not use, so no profile's `access` opens it and a
 * tenant naming it gets the 404 of an account that is not there for it.
 */
function accountOf(p: Principal, project: string | undefined): string | undefined {
  if (p.actor !== "adm") {
    if (project === POOL_ACCOUNT) {
      throw new SandboxerError(
        "SBX_NOT_FOUND",
        `no credit account '${POOL_ACCOUNT}' for this token: the warm pools' account is the operator's; yours is '${accountFor(p.project)}'`,
        {
          details: { field: "project" },
        },
      );
    }
    return accountFor(p.project);
  }
  return project === undefined ? undefined : accountFor(project);
}

export const creditRoutes: AnyRoute[] = [
  defineRoute({
    method: "get",
    path: "/v1/credits",
    operationId: "getCredits",
    summary: "Credit accounts: the caller's project; adm: every account, or ?project= (a project, default, or _pool: the warm pools' account)",
    tag: "credits",
    auth: "token",
    query: CreditsQuery,
    responses: {
      200: { description: "balances in credits", schema: Credits },
      ...COMMON_ERRORS,
      404: { description: "a tenant named the pool account (_pool)", schema: ErrorBody },
    },
    async handle({ state, principal, query }) {
      return { status: 200, body: { accounts: await state.broker.credits({ account: accountOf(principal, query.project) }) } };
    },
  }),
  defineRoute({
    method: "get",
    path: "/v1/credits/history",
    operationId: "creditHistory",
    summary: "Ledger entries (add, reserve, debit, release) of the caller's project; adm: all or ?project= (a project, default, or _pool)",
    tag: "credits",
    auth: "token",
    query: CreditHistoryQuery,
    responses: {
      200: { description: "entries, oldest first", schema: CreditHistory },
      ...COMMON_ERRORS,
      404: { description: "a tenant named the pool account (_pool)", schema: ErrorBody },
    },
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
    summary: "Add credits to an account (a project, default when none, or _pool: the warm pools' account); operators only",
    tag: "credits",
    auth: "adm",
    body: CreditsAdd,
    responses: {
      200: { description: "the account after the top-up", schema: Credits },
      ...COMMON_ERRORS,
      403: { description: "operators only", schema: ErrorBody },
    },
    async handle({ state, body }) {
      // `_pool` is the warm pools' account (`credits add --pool`); every other name is a project's.
      if (body.project !== undefined && body.project !== POOL_ACCOUNT && !/^[a-z0-9][a-z0-9_.-]{0,62}$/.test(body.project)) {
        throw new SandboxerError(
          "SBX_USAGE",
          `body.project: must be a name of lowercase letters, digits, '_', '.', '-' (at most 63), or ${POOL_ACCOUNT} (the warm pools' account)`,
          {
            details: { field: "project" },
          },
        );
      }
      return {
        status: 200,
        body: { accounts: [await state.broker.addCredits({ account: accountFor(body.project ?? null), amount: body.amount, note: body.note })] },
      };
    },
  }),
];
