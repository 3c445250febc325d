import { ErrorBody, ExtensionList, Health, HostList, ProfileList, Ready, ReconcileReport } from "./schemas.js";
import { mayUse } from "../tenancy/access.js";
import { profileFor, registrationFor } from "../tenancy/view.js";
import { type AnyRoute, COMMON_ERRORS, defineRoute } from "./spec.js";

const err = (description: string) => ({ description, schema: ErrorBody });

export const otherRoutes: AnyRoute[] = [
  defineRoute({
    method: "get",
    path: "/v1/hosts",
    operationId: "listHosts",
    summary: "Hosts inventory (SSH details for adm tokens only; never key paths)",
    tag: "catalog",
    auth: "token",
    responses: { 200: { description: "hosts", schema: HostList }, ...COMMON_ERRORS },
    async handle({ state, principal }) {
      const hosts = [...(await state.broker.config()).hosts.values()].map((h) => ({
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
    summary: "The profile catalog, with its diagnostics (agt/atm tokens: the profiles they may use, no diagnostics)",
    tag: "catalog",
    auth: "token",
    responses: { 200: { description: "profiles", schema: ProfileList }, ...COMMON_ERRORS },
    async handle({ state, principal }) {
      const catalog = await state.broker.catalog();
      // A tenant sees only the profiles it may use, without their files on the server.
      const profiles = [...catalog.profiles.values()]
        .filter((p) => mayUse(p, principal))
        .sort((a, b) => a.id.localeCompare(b.id))
        .map((p) => profileFor(principal, p));
      if (principal.actor !== "adm") return { status: 200, body: { profiles, errors: [], warnings: [] } };
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
    async handle({ state, principal }) {
      return { status: 200, body: (await state.broker.extensions()).map((r) => registrationFor(principal, r)) };
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
    summary: "Liveness, and whether the store answers (503 when it does not)",
    tag: "operations",
    auth: "none",
    responses: { 200: { description: "alive, store reachable", schema: Health }, 503: { description: "the store does not answer", schema: Health } },
    async handle({ state }) {
      const h = await state.broker.health();
      return { status: h.ok ? 200 : 503, body: h };
    },
  }),
  defineRoute({
    method: "get",
    path: "/readyz",
    operationId: "ready",
    summary: "Readiness for load balancers: 200 while this replica takes requests (store reachable, not shutting down)",
    tag: "operations",
    auth: "none",
    responses: { 200: { description: "ready", schema: Ready }, 503: { description: "not ready: take it out of rotation", schema: Ready } },
    async handle({ state }) {
      if (state.shutdown.aborted) return { status: 503, body: { ready: false, reason: "shutting down" } };
      const h = await state.broker.health();
      return h.ok ? { status: 200, body: { ready: true } } : { status: 503, body: { ready: false, reason: h.error ?? "store unreachable" } };
    },
  }),
];
