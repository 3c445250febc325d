/**
 * Which profile a restore uses, and with which inputs. The snapshot supplies
 * its own profile and inputs; `--host` onto a host that profile cannot use
 * is answered with the profiles that can (never a guess), and a restore into
 * another profile keeps the snapshot's inputs that profile declares, so the
 * caller never repeats what the snapshot already says.
 */
import type { Catalog } from "../catalog/load.js";
import type { Profile } from "../catalog/schema.js";
import { SandboxerError } from "../errors.js";
import type { Snapshot } from "../snapshots/types.js";
import { type Caller, mayUse } from "../tenancy/access.js";
import type { Host } from "../types.js";
import { type CreateRequest, pickHost } from "./plan.js";
import { extensionIn, type Runtime } from "./runtime.js";
import type { RestoreOptions } from "./snapshots.js";

/** Why `profile` cannot take a restore onto `host`, or null when it can. `registrations` find extensions kept in modules. */
export async function restoreMisfit(
  profile: Profile,
  hosts: ReadonlyMap<string, Host>,
  host: string,
  registrations: Catalog["registrations"],
): Promise<string | null> {
  try {
    pickHost(profile, hosts, host);
  } catch {
    return `its placement is ${profile.placement.hosts.join(", ")}${profile.placement.labels.length ? ` with labels ${profile.placement.labels.join(",")}` : ""}`;
  }
  // On an SSH host a local-only profile may be served by another extension (settings.sshExtension).
  const alt = host !== "localhost" && typeof profile.settings.sshExtension === "string" ? profile.settings.sshExtension : undefined;
  const ids = alt ? [alt] : profile.extension ? [profile.extension] : (profile.route?.candidates ?? []);
  for (const id of ids) {
    const ext = await extensionIn(registrations, id).catch(() => undefined);
    // A build (mode build) makes an image, not a workspace: nothing to restore into.
    if (ext?.capabilities.restore && profile.mode !== "build") return null;
  }
  return `${ids.join(", ") || "its extension"} cannot restore a workspace`;
}

/** Profiles that could take this restore onto `host` (and the caller may use), for the message that names them. */
async function fittingProfiles(catalog: Catalog, hosts: ReadonlyMap<string, Host>, host: string, caller: Caller | undefined): Promise<string[]> {
  const out: string[] = [];
  for (const p of [...catalog.profiles.values()].sort((a, b) => a.id.localeCompare(b.id))) {
    if (mayUse(p, caller) && !(await restoreMisfit(p, hosts, host, catalog.registrations))) out.push(p.id);
  }
  return out;
}

export async function restoreRequest(rt: Runtime, snap: Snapshot, opts: RestoreOptions): Promise<CreateRequest> {
  const catalog = await rt.catalog();
  const hosts = rt.config().hosts;
  const host = opts.host ?? (rt.env.SANDBOXER_HOST || undefined);
  const profileId = opts.profile ?? snap.profile;
  const own = catalog.profiles.get(snap.profile);
  if (opts.profile === undefined && host !== undefined && own && hosts.has(host)) {
    const why = await restoreMisfit(own, hosts, host, catalog.registrations);
    if (why) {
      const can = await fittingProfiles(catalog, hosts, host, opts.caller);
      throw new SandboxerError(
        "SBX_HOST_NOT_FOUND",
        `snapshot ${snap.id} is of ${own.id}, which cannot restore onto ${host} (${why}); ${can.length ? `restore with --profile one of: ${can.join(", ")}` : `no profile can restore onto ${host}`}`,
        { details: { field: "host", profiles: can } },
      );
    }
  }
  // Another profile: the snapshot's inputs it also declares carry over; the caller's win.
  const target = catalog.profiles.get(profileId);
  const carried = profileId === snap.profile ? snap.inputs : Object.fromEntries(Object.entries(snap.inputs).filter(([k]) => target?.inputs[k] !== undefined));
  return {
    profile: profileId,
    inputs: { ...carried, ...opts.inputs },
    host: opts.host,
    ttl: opts.ttl,
    extension: opts.extension,
    actor: opts.actor ?? snap.actor,
    project: opts.project ?? snap.project ?? undefined,
    caller: opts.caller,
  };
}
