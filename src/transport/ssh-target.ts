/**
 * How a consumer reaches a sandbox's host over SSH itself (wise-validator runs
 * its test command this way): the resolved user, host and port, and a plain
 * `ssh` argv without sand-boxer's ControlMaster, so the consumer's process
 * owns its connection. The login options (ssh_config, identity, certificate)
 * are the ones the transport uses, from one function.
 */
import { type Env, expandHome } from "../config.js";
import type { Host } from "../types.js";
import { runProcess } from "./local.js";
import { shellJoin } from "./quote.js";

/** What `reachability.ssh_target` holds. */
export interface SshTargetView {
  /** The address ssh connects to (ssh_config's HostName when the inventory names an alias). */
  host: string;
  user: string | null;
  port: number | null;
  /** The name given to ssh (inventory address or ssh_config alias). */
  alias: string;
  /** `ssh ... -o BatchMode=yes alias`: append the remote command as ONE argument. */
  argv: string[];
  /** The same argv, quoted for a POSIX shell. */
  command: string;
}

/** `-F`, port, user, identity and certificate options, shared by the transport and the target. */
export function loginOptions(host: Host, env: Env): string[] {
  const a: string[] = [];
  if (env.SANDBOXER_SSH_CONFIG) a.push("-F", expandHome(env.SANDBOXER_SSH_CONFIG, env));
  if (host.ssh?.port) a.push("-p", String(host.ssh.port));
  if (host.ssh?.user) a.push("-l", host.ssh.user);
  if (host.ssh?.identityFile) a.push("-i", expandHome(host.ssh.identityFile, env), "-o", "IdentitiesOnly=yes");
  // ops-warden's short-lived user certificate; ssh pairs it with the identity above (or the agent's key).
  if (host.ssh?.certificate) a.push("-o", `CertificateFile=${expandHome(host.ssh.certificate, env)}`);
  return a;
}

/** `hostname`, `user` and `port` from `ssh -G` output (ssh prints its keys lowercased). */
export function parseSshG(text: string): { hostname?: string; user?: string; port?: number } {
  const out: { hostname?: string; user?: string; port?: number } = {};
  for (const line of text.split("\n")) {
    const [k, ...rest] = line.trim().split(" ");
    const v = rest.join(" ");
    if (!v) continue;
    if (k === "hostname") out.hostname = v;
    else if (k === "user") out.user = v;
    else if (k === "port" && /^\d+$/.test(v)) out.port = Number(v);
  }
  return out;
}

/** The argv and the inventory's values, before ssh_config is consulted (pure). */
export function sshTargetOf(host: Host, env: Env, resolved: { hostname?: string; user?: string; port?: number } = {}): SshTargetView {
  const alias = host.ssh?.host ?? host.name;
  // BatchMode: an automated consumer gets an error, never a password prompt that hangs it.
  const argv = ["ssh", ...loginOptions(host, env), "-o", "BatchMode=yes", alias];
  return {
    host: resolved.hostname ?? alias,
    user: resolved.user ?? host.ssh?.user ?? null,
    port: resolved.port ?? host.ssh?.port ?? null,
    alias,
    argv,
    command: shellJoin(argv),
  };
}

/**
 * Resolve what ssh_config makes of the target (`ssh -G`: no connection is
 * made). If ssh cannot evaluate it, the inventory's own values stand.
 */
export async function resolveSshTarget(host: Host, env: Env, signal?: AbortSignal): Promise<SshTargetView> {
  const alias = host.ssh?.host ?? host.name;
  const res = await runProcess(["ssh", ...loginOptions(host, env), "-G", "--", alias], { timeoutMs: 5000, ...(signal ? { signal } : {}) }).catch(() => null);
  return sshTargetOf(host, env, res?.code === 0 ? parseSshG(res.stdout) : {});
}
