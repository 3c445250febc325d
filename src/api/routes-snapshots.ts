import type { Broker } from "../broker.js";
import { SandboxerError } from "../errors.js";
import type { Snapshot } from "../snapshots/types.js";
import {
  ErrorBody,
  ExpireBody,
  ExpireReport,
  IdParams,
  RestoreBody,
  SandboxRecord,
  SnapshotBody,
  SnapshotList,
  SnapshotQuery,
  SnapshotRecord,
  TtlBody,
} from "./schemas.js";
import { type AnyRoute, COMMON_ERRORS, defineRoute, notFound } from "./spec.js";
import { recordFor, snapshotFor } from "../tenancy/view.js";
import { canSee, createRequestFor, listScope, visibleSandbox } from "./tenancy.js";
import type { Principal } from "./tokens.js";

const err = (description: string) => ({ description, schema: ErrorBody });
const NOT_VISIBLE = { 404: err("not found, or not visible to this token") };
const UNSUPPORTED = { 422: err("the extension cannot snapshot or restore (SBX_UNSUPPORTED)") };

async function visibleSnapshot(broker: Broker, p: Principal, id: string): Promise<Snapshot> {
  let s: Snapshot;
  try {
    s = await broker.getSnapshot(id);
  } catch (e) {
    if (e instanceof SandboxerError && e.code === "SBX_NOT_FOUND") throw notFound("snapshot", id);
    throw e;
  }
  if (!canSee(p, s.project)) throw notFound("snapshot", id);
  return s;
}

export const snapshotRoutes: AnyRoute[] = [
  defineRoute({
    method: "post",
    path: "/v1/sandboxes/{id}/ttl",
    operationId: "extendTtl",
    summary: "Extend a sandbox's TTL (within the profile maximum)",
    tag: "ttl",
    auth: "token",
    params: IdParams,
    body: TtlBody,
    responses: { 200: { description: "the record with its new expiresAt", schema: SandboxRecord }, ...COMMON_ERRORS, ...NOT_VISIBLE },
    async handle({ state, principal, params, body }) {
      await visibleSandbox(state.broker, principal, params.id);
      return { status: 200, body: recordFor(principal, await state.broker.extendTtl(params.id, body.duration)) };
    },
  }),
  defineRoute({
    method: "post",
    path: "/v1/expire",
    operationId: "expire",
    summary: "Destroy sandboxes past their TTL (apply=false only reports); operators only",
    tag: "ttl",
    auth: "adm",
    body: ExpireBody,
    responses: { 200: { description: "what expired (or would)", schema: ExpireReport }, ...COMMON_ERRORS, 403: err("operators only") },
    async handle({ state, body }) {
      const apply = body.apply ?? false;
      return { status: 200, body: { applied: apply, ...(await state.broker.expire({ apply })) } };
    },
  }),
  defineRoute({
    method: "post",
    path: "/v1/sandboxes/{id}/snapshots",
    operationId: "createSnapshot",
    summary: "Snapshot a ready sandbox's workspace",
    tag: "snapshots",
    auth: "token",
    params: IdParams,
    body: SnapshotBody,
    responses: { 201: { description: "the snapshot", schema: SnapshotRecord }, ...COMMON_ERRORS, ...NOT_VISIBLE, ...UNSUPPORTED },
    async handle({ state, principal, params, body }) {
      await visibleSandbox(state.broker, principal, params.id);
      return { status: 201, body: snapshotFor(principal, await state.broker.snapshot(params.id, { name: body.name })) };
    },
  }),
  defineRoute({
    method: "get",
    path: "/v1/snapshots",
    operationId: "listSnapshots",
    summary: "List snapshots visible to this token",
    tag: "snapshots",
    auth: "token",
    query: SnapshotQuery,
    responses: { 200: { description: "snapshots", schema: SnapshotList }, ...COMMON_ERRORS },
    async handle({ state, principal, query }) {
      const scope = listScope(principal, query.project);
      if (!scope) return { status: 200, body: [] };
      const all = await state.broker.snapshots({ sandboxId: query.sandbox, profile: query.profile, project: scope.project });
      return { status: 200, body: all.filter((s) => canSee(principal, s.project)).map((s) => snapshotFor(principal, s)) };
    },
  }),
  defineRoute({
    method: "get",
    path: "/v1/snapshots/{id}",
    operationId: "getSnapshot",
    summary: "One snapshot record",
    tag: "snapshots",
    auth: "token",
    params: IdParams,
    responses: { 200: { description: "the snapshot", schema: SnapshotRecord }, ...COMMON_ERRORS, ...NOT_VISIBLE },
    handle: async ({ state, principal, params }) => ({ status: 200, body: snapshotFor(principal, await visibleSnapshot(state.broker, principal, params.id)) }),
  }),
  defineRoute({
    method: "delete",
    path: "/v1/snapshots/{id}",
    operationId: "deleteSnapshot",
    summary: "Delete a snapshot and its archive",
    tag: "snapshots",
    auth: "token",
    params: IdParams,
    responses: { 200: { description: "the deleted snapshot", schema: SnapshotRecord }, ...COMMON_ERRORS, ...NOT_VISIBLE },
    async handle({ state, principal, params }) {
      await visibleSnapshot(state.broker, principal, params.id);
      return { status: 200, body: snapshotFor(principal, await state.broker.deleteSnapshot(params.id)) };
    },
  }),
  defineRoute({
    method: "post",
    path: "/v1/snapshots/{id}/restore",
    operationId: "restoreSnapshot",
    summary: "Restore a snapshot into a NEW sandbox (optionally another host, TTL, profile)",
    tag: "snapshots",
    auth: "token",
    params: IdParams,
    body: RestoreBody,
    responses: { 201: { description: "the new sandbox", schema: SandboxRecord }, ...COMMON_ERRORS, ...NOT_VISIBLE, ...UNSUPPORTED },
    async handle({ state, principal, params, body }) {
      await visibleSnapshot(state.broker, principal, params.id);
      const req = createRequestFor(principal, body, undefined);
      const sb = await state.broker.restore(params.id, {
        host: req.host,
        ttl: req.ttl,
        profile: req.profile,
        inputs: req.inputs,
        extension: req.extension,
        actor: req.actor,
        project: req.project,
        caller: req.caller,
      });
      return { status: 201, body: recordFor(principal, sb) };
    },
  }),
];
