import type { Broker } from "../broker.js";
import { loadExtension } from "../extensions/index.js";
import {
  Credits,
  ErrorBody,
  ExpireBody,
  ExpireReport,
  ExtensionList,
  Health,
  HostList,
  IdParams,
  ProfileList,
  ReconcileReport,
  SandboxRecord,
  Snapshot,
  SnapshotBody,
  SnapshotList,
  TtlBody,
} from "./schemas.js";
import { type AnyRoute, COMMON_ERRORS, defineRoute, notFound, unsupported } from "./spec.js";
import { canSee, visibleSandbox } from "./tenancy.js";

const err = (description: string) => ({ description, schema: ErrorBody });
const NOT_VISIBLE = { 404: err("not found, or not visible to this token") };
const UNSUPPORTED = { 422: err("the feature or the extension's capability is missing (SBX_UNSUPPORTED)") };

type Fn = (...args: unknown[]) => unknown;

/**
 * Broker operations that other parts of sand-boxer add (snapshots, TTL,
 * credits). Looked up by name so the API answers SBX_UNSUPPORTED, rather than
 * failing to build, in a build without them.
 */
function op(broker: Broker, names: string[], feature: string): Fn {
  const b = broker as unknown as Record<string, unknown>;
  for (const n of names) {
    const fn = b[n];
    if (typeof fn === "function") return (fn as Fn).bind(broker);
  }
  throw unsupported(feature);
}

type Owned = { project?: unknown; sandboxId?: unknown };

/** A snapshot's project: its own field, else its sandbox's. */
function snapshotVisible(broker: Broker, p: Parameters<typeof canSee>[0], snap: Owned): boolean {
  if (p.actor === "adm") return true;
  if (typeof snap.project === "string" || snap.project === null) return canSee(p, snap.project as string | null);
  if (typeof snap.sandboxId !== "string") return false;
  try {
    return canSee(p, broker.get(snap.sandboxId).project);
  } catch {
    return false;
  }
}

export const otherRoutes: AnyRoute[] = [
  defineRoute({
    method: "post",
    path: "/v1/sandboxes/{id}/ttl",
    operationId: "extendTtl",
    summary: "Extend a sandbox's TTL (within the profile maximum)",
    tag: "ttl",
    auth: "token",
    params: IdParams,
    body: TtlBody,
    responses: { 200: { description: "the record with its new expiresAt", schema: SandboxRecord }, ...COMMON_ERRORS, ...NOT_VISIBLE, ...UNSUPPORTED },
    async handle({ state, principal, params, body }) {
      visibleSandbox(state.broker, principal, params.id);
      const fn = op(state.broker, ["extendTtl"], "extend-ttl");
      return { status: 200, body: await fn(params.id, body.duration) };
    },
  }),
  defineRoute({
    method: "post",
    path: "/v1/sandboxes/{id}/snapshots",
    operationId: "createSnapshot",
    summary: "Snapshot a sandbox's workspace",
    tag: "snapshots",
    auth: "token",
    params: IdParams,
    body: SnapshotBody,
    responses: { 201: { description: "the snapshot", schema: Snapshot }, ...COMMON_ERRORS, ...NOT_VISIBLE, ...UNSUPPORTED },
    async handle({ state, principal, params, body }) {
      visibleSandbox(state.broker, principal, params.id);
      const fn = op(state.broker, ["snapshot", "createSnapshot"], "snapshots");
      return { status: 201, body: await fn(params.id, { name: body.name }) };
    },
  }),
  defineRoute({
    method: "get",
    path: "/v1/snapshots",
    operationId: "listSnapshots",
    summary: "List snapshots visible to this token",
    tag: "snapshots",
    auth: "token",
    responses: { 200: { description: "snapshots", schema: SnapshotList }, ...COMMON_ERRORS, ...UNSUPPORTED },
    async handle({ state, principal }) {
      const fn = op(state.broker, ["snapshots", "listSnapshots"], "snapshots");
      const all = (await fn()) as Owned[];
      return { status: 200, body: all.filter((s) => snapshotVisible(state.broker, principal, s)) };
    },
  }),
  defineRoute({
    method: "post",
    path: "/v1/snapshots/{id}/restore",
    operationId: "restoreSnapshot",
    summary: "Restore a snapshot into a new sandbox",
    tag: "snapshots",
    auth: "token",
    params: IdParams,
    responses: { 201: { description: "the new sandbox", schema: SandboxRecord }, ...COMMON_ERRORS, ...NOT_VISIBLE, ...UNSUPPORTED },
    async handle({ state, principal, params }) {
      const get = op(state.broker, ["getSnapshot", "snapshotGet"], "snapshots");
      const snap = (await get(params.id)) as Owned;
      if (!snapshotVisible(state.broker, principal, snap)) throw notFound("snapshot", params.id);
      const fn = op(state.broker, ["restore", "restoreSnapshot"], "snapshots");
      return { status: 201, body: await fn(params.id) };
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
    responses: { 200: { description: "what expired (or would)", schema: ExpireReport }, ...COMMON_ERRORS, 403: err("operators only"), ...UNSUPPORTED },
    async handle({ state, body }) {
      const fn = op(state.broker, ["expire"], "expire");
      return { status: 200, body: await fn({ apply: body.apply ?? false }) };
    },
  }),
  defineRoute({
    method: "get",
    path: "/v1/credits",
    operationId: "getCredits",
    summary: "Credit balance: the caller's project (adm: every account)",
    tag: "credits",
    auth: "token",
    responses: { 200: { description: "balance", schema: Credits }, ...COMMON_ERRORS, ...UNSUPPORTED },
    async handle({ state, principal }) {
      const fn = op(state.broker, ["credits", "creditsShow"], "credits");
      return { status: 200, body: await fn(principal.actor === "adm" ? {} : { project: principal.project }) };
    },
  }),
  defineRoute({
    method: "get",
    path: "/v1/hosts",
    operationId: "listHosts",
    summary: "Hosts inventory (SSH details for adm tokens only; never key paths)",
    tag: "catalog",
    auth: "token",
    responses: { 200: { description: "hosts", schema: HostList }, ...COMMON_ERRORS },
    handle({ state, principal }) {
      const hosts = [...state.broker.config().hosts.values()].map((h) => ({
        name: h.name,
        labels: h.labels,
        compose: h.compose ?? null,
        workspaceRoot: h.workspaceRoot ?? null,
        ssh: principal.actor === "adm" && h.ssh ? { host: h.ssh.host, user: h.ssh.user ?? null, port: h.ssh.port ?? null } : null,
      }));
      return { status: 200, body: hosts };
    },
  }),
  defineRoute({
    method: "get",
    path: "/v1/profiles",
    operationId: "listProfiles",
    summary: "The profile catalog, with its diagnostics",
    tag: "catalog",
    auth: "token",
    responses: { 200: { description: "profiles", schema: ProfileList }, ...COMMON_ERRORS },
    async handle({ state }) {
      const catalog = await state.broker.catalog();
      const profiles = [...catalog.profiles.values()].sort((a, b) => a.id.localeCompare(b.id));
      return { status: 200, body: { profiles, errors: catalog.errors, warnings: catalog.warnings } };
    },
  }),
  defineRoute({
    method: "get",
    path: "/v1/extensions",
    operationId: "listExtensions",
    summary: "Extension registrations with kind and capabilities",
    tag: "catalog",
    auth: "token",
    responses: { 200: { description: "extensions", schema: ExtensionList }, ...COMMON_ERRORS },
    async handle({ state }) {
      const catalog = await state.broker.catalog();
      const rows = [];
      for (const reg of catalog.registrations.values()) {
        const ext = await loadExtension(reg.id);
        rows.push({ ...reg, kind: ext.kind, capabilities: ext.capabilities });
      }
      return { status: 200, body: rows };
    },
  }),
  defineRoute({
    method: "post",
    path: "/v1/reconcile",
    operationId: "reconcile",
    summary: "Finish or clean up what crashed operations left (deep); operators only",
    tag: "operations",
    auth: "adm",
    responses: { 200: { description: "report", schema: ReconcileReport }, ...COMMON_ERRORS, 403: err("operators only") },
    async handle({ state }) {
      return { status: 200, body: await state.broker.reconcile({ deep: true }) };
    },
  }),
  defineRoute({
    method: "get",
    path: "/healthz",
    operationId: "health",
    summary: "Liveness: the store answers",
    tag: "operations",
    auth: "none",
    responses: { 200: { description: "alive", schema: Health } },
    handle: ({ state }) => ({ status: 200, body: { ok: true, version: "0.1.0", schemaVersion: state.broker.store.schemaVersion() } }),
  }),
];
