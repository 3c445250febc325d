/**
 * The kinds the fake serves, and the `Status` objects the API server answers
 * errors with (kind Status, apiVersion v1, status Failure, reason, code).
 */
import { type Field, SCHEMAS } from "./fields.js";

export interface ResourceDef {
  group: string;
  version: string;
  plural: string;
  kind: string;
  /** Clients may create it (pods are made by the controller only, here). */
  creatable: boolean;
  schema?: Field;
}

export const AGENTS = "agents.x-k8s.io";
export const EXTENSIONS = "extensions.agents.x-k8s.io";

export const RESOURCES: ResourceDef[] = [
  { group: AGENTS, version: "v1beta1", plural: "sandboxes", kind: "Sandbox", creatable: true, schema: SCHEMAS.sandboxes },
  { group: EXTENSIONS, version: "v1beta1", plural: "sandboxtemplates", kind: "SandboxTemplate", creatable: true, schema: SCHEMAS.sandboxtemplates },
  { group: EXTENSIONS, version: "v1beta1", plural: "sandboxclaims", kind: "SandboxClaim", creatable: true, schema: SCHEMAS.sandboxclaims },
  { group: EXTENSIONS, version: "v1beta1", plural: "sandboxwarmpools", kind: "SandboxWarmPool", creatable: true, schema: SCHEMAS.sandboxwarmpools },
  { group: "", version: "v1", plural: "pods", kind: "Pod", creatable: false },
];

export function resourceFor(group: string, version: string, plural: string): ResourceDef | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural);
}

export const apiVersionOf = (r: ResourceDef) => (r.group ? `${r.group}/${r.version}` : r.version);
/** `sandboxes.agents.x-k8s.io`, or `pods` for the core group: how the server names a resource in messages. */
export const qualified = (r: ResourceDef | { plural: string; group: string }) => (r.group ? `${r.plural}.${r.group}` : r.plural);

export interface Status {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, never>;
  status: "Failure" | "Success";
  message?: string;
  reason?: string;
  details?: Record<string, unknown>;
  code: number;
}

export function failure(code: number, reason: string, message: string, details?: Record<string, unknown>): Status {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, ...(details ? { details } : {}), code };
}

export const notFound = (r: ResourceDef, name: string) =>
  failure(404, "NotFound", `${qualified(r)} "${name}" not found`, { name, group: r.group, kind: r.plural });
export const alreadyExists = (r: ResourceDef, name: string) =>
  failure(409, "AlreadyExists", `${qualified(r)} "${name}" already exists`, { name, group: r.group, kind: r.plural });
export const expired = (rv: string, oldest: number) => failure(410, "Expired", `too old resource version: ${rv} (${oldest})`);

/** What RBAC says when a verb is not granted (the user is the kubeconfig's service account). */
export function forbidden(
  user: string,
  verb: string,
  resource: { plural: string; group: string; sub?: string },
  ns: string | undefined,
  name?: string,
): Status {
  const res = resource.sub ? `${resource.plural}/${resource.sub}` : resource.plural;
  const what = `${qualified(resource)}${name ? ` "${name}"` : ""}`;
  const where = ns ? ` in the namespace "${ns}"` : " at the cluster scope";
  return failure(403, "Forbidden", `${what} is forbidden: User "${user}" cannot ${verb} resource "${res}" in API group "${resource.group}"${where}`, {
    ...(name ? { name } : {}),
    group: resource.group,
    kind: resource.plural,
  });
}
