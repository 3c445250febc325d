import { composeCommand, workspaceRootOf } from "../extensions/compose-ssh/compose.js";
import { enforcementReport } from "../extensions/local/limits/apply.js";
import { LIVE_STATES } from "../lifecycle.js";
import { resolvePaths } from "../paths.js";
import { hostKind } from "../transport/for-host.js";
import type { Host, JsonObject } from "../types.js";
import { localHostFacts } from "../telemetry/host-facts.js";
import type { HostSessions } from "./host-sessions.js";
import { remoteFacts } from "../telemetry/remote-facts.js";

export interface HostReport {
  name: string;
  ssh: string | null;
  labels: string[];
  compose: string;
  workspaceRoot: string;
  reachable: boolean;
  error: string | null;
  facts: JsonObject | null;
  /** localhost: what ext.local can enforce here (cgroups, rlimits, disk); see docs/host-telemetry.md. */
  limits?: JsonObject;
  sandboxes: {
    /** Live records placed on this host. */
    byRecord: string[];
    /** Sandbox ids found on the host itself (containers labelled sandboxer.id, workspaces, processes). */
    byLabel: string[];
  };
}

function sshOf(h: Host): string | null {
  if (hostKind(h) !== "ssh") return null;
  const s = h.ssh;
  return s ? `${s.user ? `${s.user}@` : ""}${s.host}${s.port ? `:${s.port}` : ""}` : `${h.name} (ssh_config alias)`;
}

/** Reachability, kernel, cpus, memory, disk free under the workspace root, compose/runtime versions, sandboxes. */
export async function inspectHost(s: HostSessions, host: Host, liveOnHost: string[]): Promise<HostReport> {
  const compose = composeCommand(host, s.env);
  const root = host.name === "localhost" ? (host.workspaceRoot ?? "") : workspaceRootOf(host);
  const report: HostReport = {
    name: host.name,
    ssh: sshOf(host),
    labels: host.labels,
    compose: compose.argv.join(" "),
    workspaceRoot: root,
    reachable: false,
    error: null,
    facts: null,
    sandboxes: { byRecord: liveOnHost, byLabel: [] },
  };
  const down = await s.probe(host);
  if (down) {
    report.error = down;
    return report;
  }
  report.reachable = true;
  try {
    // A host no extension reaches by shell (a cluster) has no kernel or disk to report: its extension says what it is.
    const placed = s.placedOn(host);
    const described = placed.some((e) => e.placement.shell) ? undefined : placed.find((e) => e.hostFacts);
    if (described?.hostFacts) {
      report.facts = await described.hostFacts(s.context(host, undefined, described.id));
    } else if (host.name === "localhost") {
      report.facts = {
        ...localHostFacts(s.env.SANDBOXER_HOME ? root || "/" : "/"),
        ...(await remoteFacts(s.transport(host), { workspaceRoot: root || "/", cli: compose.cli, compose: compose.argv })),
      };
      report.limits = enforcementReport(resolvePaths(s.env).home, s.env) as JsonObject;
    } else {
      report.facts = await remoteFacts(s.transport(host), { workspaceRoot: root, cli: compose.cli, compose: compose.argv });
    }
    report.sandboxes.byLabel = [...new Set((await s.list(host, { remote: false })).found.map((r) => r.sandboxId))].sort();
  } catch (err) {
    report.error = (err as Error).message;
  }
  return report;
}

export function liveByHost(rows: { id: string; host: string; state: string }[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const r of rows) {
    if (!(LIVE_STATES as readonly string[]).includes(r.state)) continue;
    m.set(r.host, [...(m.get(r.host) ?? []), r.id]);
  }
  return m;
}
