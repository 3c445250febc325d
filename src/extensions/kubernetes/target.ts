/**
 * Where a sandbox lives on a cluster: the inventory host's `cluster` entry
 * (kubeconfig context, one namespace or one per project). Pure decisions.
 */
import { SandboxerError } from "../../errors.js";
import type { ClusterTarget, Host } from "../../types.js";

export function clusterOf(host: Host): ClusterTarget {
  if (!host.cluster) {
    throw new SandboxerError(
      "SBX_HOST_NOT_FOUND",
      `host: '${host.name}' has no \`cluster\` entry in the hosts inventory; ext.kubernetes places sandboxes on clusters (docs/kubernetes.md)`,
      {
        details: { field: "host" },
      },
    );
  }
  return host.cluster;
}

/**
 * The namespace for a project: its own (`namespaces`), else the shared one,
 * else the kubeconfig context's. A project missing from a per-project map with
 * no shared namespace is refused, so tenants never land in each other's namespace.
 */
export function namespaceFor(host: Host, project: string | null, contextNamespace: string | undefined): string {
  const c = clusterOf(host);
  const own = project !== null ? c.namespaces?.[project] : undefined;
  if (own) return own;
  if (c.namespace) return c.namespace;
  if (c.namespaces && Object.keys(c.namespaces).length) {
    throw new SandboxerError(
      "SBX_FORBIDDEN",
      `cluster '${host.name}' has no namespace for project '${project ?? "(none)"}' (hosts.${host.name}.cluster.namespaces)`,
      { details: { field: "project" } },
    );
  }
  return contextNamespace || "default";
}

/** Every namespace the inventory puts sandboxes in on this cluster (stale detection looks in each). */
export function namespacesOf(host: Host, contextNamespace: string | undefined): string[] {
  const c = clusterOf(host);
  const all = [...(c.namespace ? [c.namespace] : []), ...Object.values(c.namespaces ?? {})];
  if (!all.length) all.push(contextNamespace || "default");
  return [...new Set(all)];
}
