import { parseDuration } from "../duration.js";
import { SandboxerError } from "../errors.js";
import { type ExecOptions, refusalOf } from "../broker.js";
import { streamExec } from "./exec-stream.js";
import { LIVE_STATES } from "../lifecycle.js";
import type { Sandbox, SandboxState } from "../types.js";
import {
  CreateBody,
  CreateQuery,
  ErrorBody,
  ExecBody,
  type ExecBodyT,
  ExecResult,
  IdParams,
  ListQuery,
  PlanResult,
  SandboxList,
  SandboxRecord,
} from "./schemas.js";
import { type AnyRoute, COMMON_ERRORS, defineRoute } from "./spec.js";
import { recordFor, planViewFor } from "../tenancy/view.js";
import { callerOf, canSee, createRequestFor, listScope, visibleSandbox } from "./tenancy.js";

const err = (description: string) => ({ description, schema: ErrorBody });

/** The broker options an exec body asks for (timeout parsed, stdin decoded). */
function execOptions(body: ExecBodyT): ExecOptions {
  if (body.stdin !== undefined && body.stdinBase64 !== undefined)
    throw new SandboxerError("SBX_USAGE", "body: give stdin or stdinBase64, not both", { details: { field: "stdin" } });
  const stdin = body.stdin !== undefined ? Buffer.from(body.stdin) : body.stdinBase64 !== undefined ? Buffer.from(body.stdinBase64, "base64") : undefined;
  return {
    ...(body.service === undefined ? {} : { service: body.service }),
    ...(body.timeout === undefined ? {} : { timeoutMs: parseDuration(body.timeout, "timeout") * 1000 }),
    ...(stdin === undefined ? {} : { stdin }),
  };
}

const cursorOf = (sb: Sandbox) => Buffer.from(`${sb.createdAt}\n${sb.id}`).toString("base64url");

function afterCursor(cursor: string): { createdAt: string; id: string } {
  const [createdAt, id] = Buffer.from(cursor, "base64url").toString().split("\n");
  if (!createdAt || !id) throw new SandboxerError("SBX_USAGE", "cursor: not a cursor this server issued", { details: { field: "cursor" } });
  return { createdAt, id };
}

export const sandboxRoutes: AnyRoute[] = [
  defineRoute({
    method: "post",
    path: "/v1/sandboxes",
    operationId: "createSandbox",
    summary: "Create a sandbox (same fields as `sandboxer create`)",
    tag: "sandboxes",
    auth: "token",
    query: CreateQuery,
    body: CreateBody,
    headers: [
      { name: "Idempotency-Key", description: "retry-safe create: the same key and body return the same sandbox, provisioned once; another body -> 409" },
    ],
    responses: {
      201: { description: "ready (or the earlier sandbox for this idempotency key)", schema: SandboxRecord },
      202: { description: "accepted with wait=false: the record, still provisioning", schema: SandboxRecord },
      ...COMMON_ERRORS,
      403: err("the token may not create for that actor or project, or may not use the profile (SBX_FORBIDDEN)"),
      409: err("idempotency key reused with a different body (SBX_IDEMPOTENCY_CONFLICT)"),
      502: err("provisioning failed; what was created has been torn down"),
    },
    async handle({ c, state, principal, query, body }) {
      const req = createRequestFor(principal, body, c.req.header("Idempotency-Key"));
      if (query.wait === "false") {
        const controller = new AbortController();
        const onShutdown = () => controller.abort();
        state.shutdown.addEventListener("abort", onShutdown, { once: true });
        let announce: (sb: Sandbox) => void = () => {};
        const early = new Promise<Sandbox>((r) => {
          announce = r;
        });
        const running = state.broker.create(req, { signal: controller.signal, onRecord: (sb) => announce(sb) });
        const tracked = running
          .catch(() => {})
          .finally(() => {
            state.background.delete(tracked);
            state.shutdown.removeEventListener("abort", onShutdown);
          });
        state.background.add(tracked);
        const first = await Promise.race([early, running]);
        return { status: 202, body: recordFor(principal, await state.broker.get(first.id)) };
      }
      // Cancelled (and cleaned up) if the server shuts down first.
      // A retry with an earlier request's key answers once that sandbox is ready (or with its error).
      return { status: 201, body: recordFor(principal, await state.broker.create(req, { signal: state.shutdown })) };
    },
  }),
  defineRoute({
    method: "post",
    path: "/v1/plan",
    operationId: "planSandbox",
    summary: "What a create with this body would do now (profile, route, host, TTL), creating nothing",
    tag: "sandboxes",
    auth: "token",
    body: CreateBody,
    responses: { 200: { description: "the plan; `route` has the reasons for every rejected candidate", schema: PlanResult }, ...COMMON_ERRORS },
    async handle({ state, principal, body }) {
      try {
        return { status: 200, body: planViewFor(principal, await state.broker.plan(createRequestFor(principal, body, undefined))) };
      } catch (err) {
        // A refused create (no credits, no capacity) is still explained: every candidate and why.
        const r = refusalOf(err);
        if (!r) throw err;
        return {
          status: 200,
          body: {
            profile: { id: r.profile },
            route: { chosen: null, strategy: r.strategy, reason: r.message, rejected: r.rejected },
            ttlSeconds: r.ttlSeconds,
            project: r.project,
            refused: { code: r.code, message: r.message },
          },
        };
      }
    },
  }),
  defineRoute({
    method: "get",
    path: "/v1/sandboxes",
    operationId: "listSandboxes",
    summary: "List sandboxes (filters, cursor paging); agt/atm tokens see their project only",
    tag: "sandboxes",
    auth: "token",
    query: ListQuery,
    responses: { 200: { description: "one page", schema: SandboxList }, ...COMMON_ERRORS },
    async handle({ state, principal, query }) {
      let states = query.state?.split(",") as SandboxState[] | undefined;
      if (!states && query.all !== "true") states = [...LIVE_STATES, "failed"];
      const scope = listScope(principal, query.project);
      if (!scope) return { status: 200, body: { items: [], nextCursor: null } };
      const { project } = scope;
      const limit = query.limit ?? 100;
      // Paged in SQL (one row more than the page tells whether another follows).
      const after = query.cursor ? afterCursor(query.cursor) : undefined;
      const rows = await state.broker.list({ states, profile: query.profile, project, extension: query.extension, host: query.host, after, limit: limit + 1 });
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      // The project filter above already keeps other projects out; canSee is the second lock.
      return {
        status: 200,
        body: {
          items: page.filter((sb) => canSee(principal, sb.project)).map((sb) => recordFor(principal, sb)),
          nextCursor: rows.length > limit && last ? cursorOf(last) : null,
        },
      };
    },
  }),
  defineRoute({
    method: "get",
    path: "/v1/sandboxes/{id}",
    operationId: "getSandbox",
    summary: "One sandbox record",
    tag: "sandboxes",
    auth: "token",
    params: IdParams,
    responses: { 200: { description: "the record", schema: SandboxRecord }, ...COMMON_ERRORS, 404: err("no such sandbox visible to this token") },
    handle: async ({ state, principal, params }) => ({ status: 200, body: recordFor(principal, await visibleSandbox(state.broker, principal, params.id)) }),
  }),
  defineRoute({
    method: "delete",
    path: "/v1/sandboxes/{id}",
    operationId: "destroySandbox",
    summary: "Tear a sandbox down; the record stays, destroyed",
    tag: "sandboxes",
    auth: "token",
    params: IdParams,
    responses: {
      200: { description: "the destroyed record", schema: SandboxRecord },
      ...COMMON_ERRORS,
      404: err("no such sandbox visible to this token"),
      409: err("not in a destroyable state, or busy"),
    },
    async handle({ state, principal, params }) {
      await visibleSandbox(state.broker, principal, params.id);
      return { status: 200, body: recordFor(principal, await state.broker.destroy(params.id)) };
    },
  }),
  defineRoute({
    method: "post",
    path: "/v1/sandboxes/{id}/recreate",
    operationId: "recreateSandbox",
    summary: "Destroy and create again with the same request",
    tag: "sandboxes",
    auth: "token",
    params: IdParams,
    responses: { 201: { description: "the new sandbox", schema: SandboxRecord }, ...COMMON_ERRORS, 404: err("no such sandbox visible to this token") },
    async handle({ state, principal, params }) {
      await visibleSandbox(state.broker, principal, params.id);
      return { status: 201, body: recordFor(principal, await state.broker.recreate(params.id, { caller: callerOf(principal) })) };
    },
  }),
  defineRoute({
    method: "post",
    path: "/v1/sandboxes/{id}/exec",
    operationId: "execInSandbox",
    summary: "Run a command inside a ready sandbox (argv, no shell); output collected, or streamed (stream: true); optional timeout and stdin",
    tag: "sandboxes",
    auth: "token",
    params: IdParams,
    body: ExecBody,
    responses: {
      200: {
        description: "the command ran (see exitCode); with stream: true, text/event-stream of stdout/stderr events then exit",
        schema: ExecResult,
        sse: true,
      },
      ...COMMON_ERRORS,
      404: err("no such sandbox visible to this token"),
      409: err("the sandbox is not ready"),
      422: err("the extension cannot run commands"),
      429: err("this token or its project runs as many execs as sessionLimits allow (SBX_SESSION_LIMIT); nothing ran"),
    },
    async handle({ c, state, principal, params, body }) {
      const sb = await visibleSandbox(state.broker, principal, params.id);
      const opts = execOptions(body);
      // Refused before the stream starts, so the status code says it.
      if (sb.state !== "ready")
        throw new SandboxerError("SBX_INVALID_STATE", `${sb.id} is ${sb.state}; exec needs a ready sandbox`, { details: { id: sb.id, state: sb.state } });
      // Held until the command ends, refused before it starts. A client that goes away ends the
      // command (its group is killed, as on a timeout), and the slot is given back once it has stopped.
      const held = await state.caps.open("execs", principal);
      const gone = c.req.raw.signal;
      if (body.stream) return streamExec(c, state.broker, params.id, body.command, { ...opts, signal: gone }, state.shutdown, held);
      const r = await state.broker
        .exec(params.id, body.command, { stdin: "ignore", stdout: "pipe", stderr: "pipe" }, { ...opts, signal: gone })
        .finally(() => held.release());
      return {
        status: 200,
        body: {
          id: params.id,
          command: body.command,
          exitCode: r.exitCode,
          stdout: r.stdout ?? "",
          stderr: r.stderr ?? "",
          truncated: r.truncated ?? false,
          ...(opts.timeoutMs === undefined ? {} : { timedOut: r.timedOut ?? false }),
        },
      };
    },
  }),
];
