import type { Flavor } from "./compose.js";
import { LABEL } from "./compose.js";

/** One container of a stack, from `podman ps --format json` or `docker ps --format '{{json .}}'`. */
export interface ContainerStatus {
  id: string;
  name: string;
  service: string | null;
  sandboxId: string | null;
  state: string;
  health: "healthy" | "unhealthy" | "starting" | null;
  exitCode: number | null;
  ports: { hostIp: string; hostPort: number; containerPort: number; protocol: string }[];
}

function healthOf(status: string): ContainerStatus["health"] {
  const m = /\((healthy|unhealthy|starting|health: starting)\)/.exec(status);
  if (!m) return null;
  return m[1] === "health: starting" ? "starting" : (m[1] as ContainerStatus["health"]);
}

function dockerLabels(s: unknown): Record<string, string> {
  if (s && typeof s === "object") return s as Record<string, string>;
  const out: Record<string, string> = {};
  for (const kv of String(s ?? "").split(",")) {
    const i = kv.indexOf("=");
    if (i > 0) out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

/** "127.0.0.1:49153->80/tcp, :::49153->80/tcp" */
function dockerPorts(s: unknown): ContainerStatus["ports"] {
  const out: ContainerStatus["ports"] = [];
  for (const part of String(s ?? "").split(",")) {
    const m = /^\s*(.*):(\d+)->(\d+)\/(\w+)/.exec(part);
    if (m) out.push({ hostIp: m[1] ?? "", hostPort: Number(m[2]), containerPort: Number(m[3]), protocol: m[4] ?? "tcp" });
  }
  return out;
}

export function parsePs(flavor: Flavor, stdout: string): ContainerStatus[] {
  const text = stdout.trim();
  if (!text) return [];
  const raw: Record<string, unknown>[] =
    flavor === "podman"
      ? (JSON.parse(text) as Record<string, unknown>[])
      : text
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, unknown>);
  return raw.map((c) => {
    const labels = dockerLabels(c.Labels);
    const status = String(c.Status ?? "");
    const names = c.Names;
    const state = String(c.State ?? "").toLowerCase();
    let exitCode: number | null = null;
    if (typeof c.ExitCode === "number" && state === "exited") exitCode = c.ExitCode;
    const m = /Exited \((\d+)\)/.exec(status);
    if (m) exitCode = Number(m[1]);
    const ports =
      flavor === "podman"
        ? ((c.Ports as { host_ip?: string; host_port?: number; container_port?: number; protocol?: string }[] | null) ?? []).map((p) => ({
            hostIp: p.host_ip ?? "",
            hostPort: p.host_port ?? 0,
            containerPort: p.container_port ?? 0,
            protocol: p.protocol ?? "tcp",
          }))
        : dockerPorts(c.Ports);
    return {
      id: String(c.Id ?? c.ID ?? ""),
      name: Array.isArray(names) ? String(names[0] ?? "") : String(names ?? ""),
      service: labels["com.docker.compose.service"] ?? null,
      sandboxId: labels[LABEL] ?? null,
      state,
      health: healthOf(status),
      exitCode,
      ports,
    };
  });
}

export type Readiness = { kind: "ready" } | { kind: "waiting"; why: string; healthchecks: string[] } | { kind: "failed"; why: string };

/**
 * Ready = every default service has a running container, healthy where it has
 * a healthcheck (a one-shot service that exited 0 counts as done). A container
 * that exited non-zero fails the create at once instead of waiting out the timeout.
 */
export function readiness(expected: string[], containers: ContainerStatus[]): Readiness {
  const failed = containers.find((c) => (c.state === "exited" || c.state === "dead") && c.exitCode !== 0);
  if (failed) return { kind: "failed", why: `service '${failed.service ?? failed.name}' exited with code ${failed.exitCode ?? "?"}` };
  const waiting: string[] = [];
  const healthchecks: string[] = [];
  for (const svc of expected) {
    const mine = containers.filter((c) => c.service === svc);
    if (!mine.length) {
      waiting.push(`${svc}: no container yet`);
      continue;
    }
    for (const c of mine) {
      if (c.state === "exited" && c.exitCode === 0) continue;
      if (c.state !== "running") waiting.push(`${svc}: ${c.state}`);
      else if (c.health === "starting" || c.health === "unhealthy") {
        waiting.push(`${svc}: ${c.health}`);
        healthchecks.push(c.name);
      }
    }
  }
  return waiting.length ? { kind: "waiting", why: waiting.join(", "), healthchecks } : { kind: "ready" };
}

/**
 * Turn podman's low-level start failures into an explanation an operator can act on.
 * Returns null when the text shows none of the known causes.
 */
export function explainStartFailure(text: string): string | null {
  if (/error setting rlimit/i.test(text)) {
    return "podman cannot start containers on this host: its default ulimits (nofile/nproc) exceed the host's hard limit. Set lower default_ulimits in containers.conf (see docs/runbooks/compose-e2e.md)";
  }
  if (/cgroup/i.test(text) && /(OCI|runc|crun)/.test(text)) {
    return 'podman cannot create the container\'s cgroup: on cgroup v1 hosts without systemd set cgroup_manager = "cgroupfs" (and runtime = "runc") in containers.conf (see docs/runbooks/compose-e2e.md)';
  }
  if (/OCI runtime|runc create failed|crun: |OCI permission denied/.test(text)) {
    return "the container runtime (runc/crun) refused to start a container; run `podman run --rm IMAGE true` on the host to see why (see docs/runbooks/compose-e2e.md)";
  }
  if (/(manifest unknown|pinging container registry|short-name|image not known|unable to pull|Error: initializing source)/i.test(text)) {
    return "an image could not be found or pulled; on hosts without registry access use fully qualified local image names (localhost/NAME:TAG)";
  }
  return null;
}
