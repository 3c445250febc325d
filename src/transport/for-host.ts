/**
 * How an inventory host is reached, decided in one place: this machine runs
 * local processes, an SSH host (an `ssh:` entry or a plain ssh_config alias)
 * gets one multiplexed connection, and a host with a `cluster` entry has no
 * shell at all (its extension talks to the API server itself).
 */
import { SandboxerError } from "../errors.js";
import type { Env } from "../paths.js";
import type { Host } from "../types.js";
import { localTransport } from "./local.js";
import { sshTransport } from "./ssh.js";
import type { Transport } from "./types.js";

export type HostKind = "localhost" | "ssh" | "cluster";

export function hostKind(host: Pick<Host, "name" | "cluster">): HostKind {
  if (host.name === "localhost") return "localhost";
  return host.cluster ? "cluster" : "ssh";
}

/** A transport for a place with no shell: every command is refused with `why`, nothing is opened. */
export function refusingTransport(host: Host, why: string): Transport {
  const refuse = () => Promise.reject(new SandboxerError("SBX_UNSUPPORTED", `no commands on host '${host.name}': ${why}`, { details: { host: host.name } }));
  return { host, run: refuse, stream: refuse, close: async () => {} };
}

/** The transport of one host (callers keep one per host for a whole operation). */
export function transportForHost(host: Host, env: Env, runDir: string): Transport {
  switch (hostKind(host)) {
    case "localhost":
      return localTransport();
    case "cluster":
      return refusingTransport(host, "it is a cluster (hosts.<name>.cluster); its extension talks to the API server");
    default:
      return sshTransport({ host, env, runDir });
  }
}
