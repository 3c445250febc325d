import { lstatSync, readFileSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { posix } from "node:path";
import { SandboxerError } from "../../errors.js";
import type { StackFs } from "./confine.js";
import { checkStack, formatViolations } from "./policy.js";
import { isRuleId, RULE_IDS, type RuleId } from "./violations.js";

/** The stack's files on this machine, read as they will be copied to the host. */
export const localStackFs: StackFs = {
  read(path) {
    try {
      return statSync(path).isFile() ? readFileSync(path, "utf8") : undefined;
    } catch {
      return undefined;
    }
  },
  readlink(path) {
    try {
      return lstatSync(path).isSymbolicLink() ? readlinkSync(path) : undefined;
    } catch {
      return undefined;
    }
  },
};

/**
 * A lone compose file is copied without its neighbours: on the host there is
 * no `.env`, no extended file and no symlink beside it, so the check must not
 * see them here either (a local `.env` would make it read values the engine never gets).
 */
function only(file: string, fs: StackFs): StackFs {
  return { read: (p) => (p === file ? fs.read(p) : undefined), readlink: () => undefined };
}

/** The settings shape a profile relaxes rules with: `settings.composePolicy: { allow: [...] }`. */
export interface PolicySettings {
  composePolicy?: { allow?: unknown };
}

/** Problems with a profile's `settings.composePolicy`, for the catalog (field paths under `settings`). */
export function policySettingsProblems(settings: Record<string, unknown>): { field: string; message: string }[] {
  const policy = settings.composePolicy;
  if (policy === undefined) return [];
  const field = "settings.composePolicy";
  if (!policy || typeof policy !== "object" || Array.isArray(policy)) return [{ field, message: "must be a map: { allow: [rule, ...] }" }];
  const problems: { field: string; message: string }[] = [];
  for (const key of Object.keys(policy)) if (key !== "allow") problems.push({ field: `${field}.${key}`, message: "unknown key (only 'allow')" });
  const allow = (policy as { allow?: unknown }).allow;
  if (allow === undefined) return problems;
  if (!Array.isArray(allow)) return [...problems, { field: `${field}.allow`, message: "must be a list of rule ids" }];
  allow.forEach((rule, i) => {
    if (!isRuleId(rule))
      problems.push({ field: `${field}.allow.${i}`, message: `unknown compose policy rule '${String(rule).slice(0, 40)}' (rules: ${RULE_IDS.join(", ")})` });
  });
  return problems;
}

/** The rules a profile relaxes (already validated when the catalog loaded). */
export function allowedRules(settings: Record<string, unknown>): RuleId[] {
  const allow = (settings as PolicySettings).composePolicy?.allow;
  return Array.isArray(allow) ? allow.filter(isRuleId) : [];
}

/**
 * Refuse a stack the profile's policy does not allow, naming every service and
 * key at once. `dir` is the stack's own directory on this machine, `file` the
 * main compose file relative to it.
 */
export function enforceComposePolicy(
  dir: string,
  file: string,
  profile: { id: string; settings: Record<string, unknown> },
  opts: { single?: boolean; fs?: StackFs } = {},
): void {
  const allow = allowedRules(profile.settings);
  const root = realpathSync(dir);
  const fs = opts.fs ?? localStackFs;
  const violations = checkStack({ root, file, fs: opts.single ? only(posix.join(root, file), fs) : fs, allow });
  if (!violations.length) return;
  throw new SandboxerError("SBX_POLICY_DENIED", formatViolations(violations, profile.id, allow), {
    details: { profile: profile.id, allowed: allow, violations: violations.map((v) => ({ ...v })) },
  });
}
