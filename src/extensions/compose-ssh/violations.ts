/**
 * The compose policy's rule ids. A profile relaxes a rule by naming its id in
 * `settings.composePolicy.allow`; ids are the compose keys they guard, plus a
 * few that guard where files come from (`bind_mounts`, `dotenv`, `external`).
 */
export const RULE_IDS = [
  "privileged",
  "cap_add",
  "devices",
  "network_mode",
  "pid",
  "ipc",
  "userns_mode",
  "uts",
  "cgroup",
  "cgroup_parent",
  "security_opt",
  "bind_mounts",
  "volumes_from",
  "external",
  "networks",
  "env_file",
  "build",
  "configs",
  "secrets",
  "extends",
  "include",
  "compose_file",
  "dotenv",
  "logging",
  "annotations",
  "use_api_socket",
  "provider",
  "runtime",
  "x-podman",
] as const;
export type RuleId = (typeof RULE_IDS)[number];

export function isRuleId(s: unknown): s is RuleId {
  return typeof s === "string" && (RULE_IDS as readonly string[]).includes(s);
}

export interface Violation {
  /** The service it concerns; absent for top-level keys (volumes, networks, include, .env). */
  service?: string;
  /** The service reaches the key through `extends` (`extends 'base' from base.yaml`). */
  via?: string;
  rule: RuleId;
  /** The compose key, as the tenant wrote it (`volumes`, `extends.file`, `.env`). */
  key: string;
  /** What the tenant can read: `true is not allowed` (the key is printed before it). */
  message: string;
}
