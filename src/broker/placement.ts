import { SandboxerError, toSandboxerError } from "../errors.js";
import type { Extension } from "../extensions/define.js";
import { hostKind } from "../transport/for-host.js";
import { isSshTransport } from "../transport/ssh.js";
import type { Host } from "../types.js";
import { type CreatePlan, type CreateRequest, pickHost } from "./plan.js";
import { extensionOf, type Runtime } from "./runtime.js";

export interface SkippedHost {
  host: string;
  why: string;
}

/**
 * Can the extension reach the host? Only an extension that runs commands there
 * (`placement.shell`) has the host probed: for SSH hosts that opens the
 * ControlMaster the create then reuses. The others (a cluster's API) answer
 * with their first request, SBX_HOST_UNREACHABLE included.
 */
export async function probeHost(rt: Runtime, host: Host, ext: Pick<Extension, "placement">, timeoutMs = 15_000): Promise<string | null> {
  if (hostKind(host) === "localhost" || !ext.placement.shell) return null;
  try {
    const t = rt.transportFor(host);
    // SSH: open the master the create then reuses (no remote shell started); others run `true`.
    if (isSshTransport(t)) {
      await t.connect({ timeoutMs });
      return null;
    }
    const res = await t.run(["true"], { timeoutMs });
    return res.code === 0 ? null : `\`true\` exited ${res.code}: ${res.stderr.trim().slice(-200)}`;
  } catch (err) {
    return toSandboxerError(err).message;
  }
}

/**
 * Placement with fallback: when the request names no host and the profile
 * allows fallback, an unreachable placement host is skipped (recorded in the
 * route's `rejected` list as `<extension>@<host>`) and the next one that fits
 * is tried. A named host, or the last candidate, that is down is a clear
 * SBX_HOST_UNREACHABLE before any record is made. Mutates `plan`.
 */
export async function placeOnReachableHost(rt: Runtime, plan: CreatePlan, req: CreateRequest): Promise<SkippedHost[]> {
  const named = req.host ?? (rt.env.SANDBOXER_HOST || undefined);
  const skipped: SkippedHost[] = [];
  const remaining = new Map(rt.config().hosts);
  let host = plan.host;
  for (;;) {
    const why = await probeHost(rt, host, await extensionOf(rt, plan.route.chosen));
    if (!why) break;
    skipped.push({ host: host.name, why });
    remaining.delete(host.name);
    if (named !== undefined || !plan.profile.placement.fallback) {
      throw new SandboxerError("SBX_HOST_UNREACHABLE", `host '${host.name}' is unreachable: ${why}`, { details: { field: "host", host: host.name } });
    }
    try {
      host = pickHost(plan.profile, remaining, undefined);
    } catch {
      const all = skipped.map((s) => `${s.host}: ${s.why}`).join("; ");
      throw new SandboxerError("SBX_HOST_UNREACHABLE", `no reachable host for ${plan.profile.id} (${all})`, { details: { field: "host", skipped } });
    }
  }
  await useSshExtension(rt, plan, host);
  if (skipped.length) {
    plan.host = host;
    plan.route = {
      ...plan.route,
      reason: `${plan.route.reason}; placed on ${host.name} after skipping ${skipped.map((s) => s.host).join(", ")}`,
      rejected: [...plan.route.rejected, ...skipped.map((s) => ({ extension: `${plan.route.chosen}@${s.host}`, why: `host unreachable: ${s.why}` }))],
    };
  }
  return skipped;
}

/**
 * A profile that runs on this machine by default may name, in `settings.sshExtension`,
 * the extension that serves it on an SSH host (profile.sandbox-canary: ext.local here,
 * ext.compose-ssh's probe mode on `--host NAME`): used when the chosen extension does
 * not place on hosts of that kind. Recorded in the route's reason.
 */
async function useSshExtension(rt: Runtime, plan: CreatePlan, host: Host): Promise<void> {
  const alt = plan.profile.settings.sshExtension;
  if (typeof alt !== "string" || alt === plan.route.chosen || hostKind(host) !== "ssh") return;
  if ((await extensionOf(rt, plan.route.chosen)).placement.hosts.includes("ssh")) return;
  const reg = (await rt.catalog()).registrations.get(alt);
  if (!reg?.enabled)
    throw new SandboxerError("SBX_EXTENSION_DISABLED", `${plan.profile.id}: settings.sshExtension '${alt}' is not a usable extension`, {
      details: { field: "extension" },
    });
  plan.route = {
    ...plan.route,
    chosen: alt,
    reason: `${plan.profile.id} runs on SSH host ${host.name} with ${alt} (settings.sshExtension)`,
    rejected: [...plan.route.rejected, { extension: plan.route.chosen, why: `runs on localhost only; ${host.name} is an SSH host` }],
  };
  plan.registration = reg;
}
