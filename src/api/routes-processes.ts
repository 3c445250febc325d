/**
 * Detached processes over HTTP: start, list, read output by offset (so an
 * agent can poll), kill. Scoped by the sandbox: a process id is only looked
 * up under a sandbox the token can see.
 */
import {
  ErrorBody,
  IdParams,
  KillBody,
  ProcessList,
  ProcessOutputQuery,
  ProcessOutputRecord,
  ProcessParams,
  ProcessRecord,
  StartProcessBody,
} from "./schemas.js";
import { type AnyRoute, COMMON_ERRORS, defineRoute } from "./spec.js";
import { visibleSandbox } from "./tenancy.js";

const err = (description: string) => ({ description, schema: ErrorBody });
const NOT_FOUND = { 404: err("no such sandbox visible to this token, or no such process in it") };

export const processRoutes: AnyRoute[] = [
  defineRoute({
    method: "post",
    path: "/v1/sandboxes/{id}/processes",
    operationId: "startProcess",
    summary: "Start a detached command (its own process group in the sandbox; output kept in a bounded ring)",
    tag: "processes",
    auth: "token",
    params: IdParams,
    body: StartProcessBody,
    responses: {
      201: { description: "started", schema: ProcessRecord },
      ...COMMON_ERRORS,
      ...NOT_FOUND,
      409: err("the sandbox is not ready"),
      422: err("the extension cannot run detached processes"),
      429: err("this token, its project or the sandbox already runs as many background processes as sessionLimits allow (SBX_SESSION_LIMIT); nothing started"),
    },
    async handle({ state, principal, params, body }) {
      await visibleSandbox(state.broker, principal, params.id);
      const p = await state.caps.startProcess(principal, params.id, () =>
        state.broker.startProcess(params.id, body.command, {
          ...(body.service === undefined ? {} : { service: body.service }),
          ...(body.cwd === undefined ? {} : { cwd: body.cwd }),
        }),
      );
      return { status: 201, body: p };
    },
  }),
  defineRoute({
    method: "get",
    path: "/v1/sandboxes/{id}/processes",
    operationId: "listProcesses",
    summary: "The sandbox's detached processes, running and ended",
    tag: "processes",
    auth: "token",
    params: IdParams,
    responses: { 200: { description: "oldest first", schema: ProcessList }, ...COMMON_ERRORS, ...NOT_FOUND },
    async handle({ state, principal, params }) {
      await visibleSandbox(state.broker, principal, params.id);
      return { status: 200, body: await state.broker.listProcesses(params.id) };
    },
  }),
  defineRoute({
    method: "get",
    path: "/v1/sandboxes/{id}/processes/{pid}/output",
    operationId: "processOutput",
    summary: "Output of a detached process from a byte offset (poll with nextOffset until done)",
    tag: "processes",
    auth: "token",
    params: ProcessParams,
    query: ProcessOutputQuery,
    responses: { 200: { description: "a slice of the output", schema: ProcessOutputRecord }, ...COMMON_ERRORS, ...NOT_FOUND },
    async handle({ state, principal, params, query }) {
      await visibleSandbox(state.broker, principal, params.id);
      return { status: 200, body: await state.broker.processOutput(params.id, params.pid, query) };
    },
  }),
  defineRoute({
    method: "post",
    path: "/v1/sandboxes/{id}/processes/{pid}/kill",
    operationId: "killProcess",
    summary: "Signal a detached process's whole process group (default TERM)",
    tag: "processes",
    auth: "token",
    params: ProcessParams,
    body: KillBody,
    responses: { 200: { description: "the process after the signal", schema: ProcessRecord }, ...COMMON_ERRORS, ...NOT_FOUND },
    async handle({ state, principal, params, body }) {
      await visibleSandbox(state.broker, principal, params.id);
      return { status: 200, body: await state.broker.killProcess(params.id, params.pid, body.signal) };
    },
  }),
];
