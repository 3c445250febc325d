/**
 * Who may use a profile. Operators (`adm`) may use every profile; tenants
 * (`agt`/`atm`, bound to one project) only the ones whose `access` admits
 * them. Without `access`, a profile is open to every tenant unless it runs
 * operator-level work, which stays `adm`-only until the profile opens it.
 * Pure: the caller and the profile decide.
 */
import type { Profile } from "../catalog/schema.js";
import { SandboxerError } from "../errors.js";
import type { ActorType } from "../types.js";

/** Who asks: the token's principal through the API; unset = the local operator. */
export interface Caller {
  actor: ActorType;
  project: string | null;
}

export const isOperator = (caller: Caller | undefined): boolean => caller === undefined || caller.actor === "adm";

/** Extensions whose sandboxes run as the server user or on the operator's machines. */
const OPERATOR_EXTENSIONS = new Set(["ext.vm-packer"]);

/**
 * Why a profile is operator-level work (null = it is not): a Packer build or
 * a workspace on a build VM (ext.vm-packer, both modes), the host network, or
 * a relaxed compose policy.
 */
export function operatorLevel(profile: Pick<Profile, "extension" | "route" | "network" | "settings">): string | null {
  const exts = profile.extension ? [profile.extension] : (profile.route?.candidates ?? []);
  const vm = exts.find((e) => OPERATOR_EXTENSIONS.has(e));
  if (vm) return `it runs ${vm} (Packer builds and build-VM workspaces)`;
  if (profile.network === "host") return "it uses the host network";
  const policy = profile.settings.composePolicy as { allow?: unknown } | undefined;
  if (Array.isArray(policy?.allow) && policy.allow.length > 0) return "it relaxes the compose policy";
  return null;
}

/** May this caller use the profile? */
export function mayUse(profile: Pick<Profile, "extension" | "route" | "network" | "settings" | "access">, caller: Caller | undefined): boolean {
  if (isOperator(caller) || !caller) return true;
  const access = profile.access;
  if (!access) return operatorLevel(profile) === null;
  if (access.actors && !access.actors.includes(caller.actor)) return false;
  if (access.projects && (caller.project === null || !access.projects.includes(caller.project))) return false;
  return true;
}

/** Refuse with 403 SBX_FORBIDDEN naming the profile (exit 4). */
export function checkAccess(profile: Profile, caller: Caller | undefined): void {
  if (mayUse(profile, caller)) return;
  const why = !profile.access ? operatorLevel(profile) : null;
  throw new SandboxerError(
    "SBX_FORBIDDEN",
    `profile '${profile.id}' is not open to ${caller?.actor} tokens of project '${caller?.project}'${why ? `: ${why}, so it is for operators unless its 'access' opens it` : ""}`,
    { details: { field: "profile", profile: profile.id } },
  );
}
