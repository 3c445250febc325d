import { DEFAULT_HOST_WORKSPACE_ROOT } from "../config.js";
import type { Host } from "../types.js";

/** How the broker reaches a host: this machine, an SSH target (explicit, or the name as an ssh_config alias), or a cluster. */
export function reachedBy(h: Host): string {
  // Cluster hosts (ext.kubernetes) carry a `cluster` entry and are never reached over SSH.
  if (h.cluster) return `(cluster ${h.cluster.context ?? "current context"})`;
  if (h.ssh) return `ssh ${h.ssh.user ? `${h.ssh.user}@` : ""}${h.ssh.host}${h.ssh.port ? `:${h.ssh.port}` : ""}`;
  if (h.name === "localhost") return "(this machine)";
  return `ssh ${h.name} (ssh_config alias)`;
}

/** The workspace root a host uses, with the default spelled out when the inventory names none. */
export function workspaceRootShown(h: Host, localWorkspaces: string): string {
  if (h.cluster) return "-";
  if (h.workspaceRoot) return h.workspaceRoot;
  return `${h.name === "localhost" ? localWorkspaces : DEFAULT_HOST_WORKSPACE_ROOT} (default)`;
}

export function hostRows(hosts: Iterable<Host>, localWorkspaces: string): string[][] {
  return [...hosts].map((h) => [
    h.name,
    reachedBy(h),
    h.compose ?? "-",
    workspaceRootShown(h, localWorkspaces),
    h.maxSandboxes === undefined ? "-" : String(h.maxSandboxes),
    h.labels.join(",") || "-",
  ]);
}

export const HOST_HEADERS = ["NAME", "REACHED BY", "COMPOSE", "WORKSPACE ROOT", "MAX SANDBOXES", "LABELS"];
