import type { Profile, Registration } from "../catalog/schema.js";
import { SandboxerError } from "../errors.js";
import type { RouteDecision, RouteRejection } from "../types.js";

export interface RouteRequest {
  /** `--extension`: pin one candidate. */
  extension?: string | undefined;
  /** `--route`: override the profile's strategy. */
  strategy?: string | undefined;
}

/**
 * Pure routing: which extension serves this create, and why every other
 * candidate was passed over. Changes nothing; the broker stores the decision.
 */
export function decideRoute(profile: Profile, regs: ReadonlyMap<string, Registration>, req: RouteRequest = {}): RouteDecision {
  const candidates = profile.extension ? [profile.extension] : (profile.route?.candidates ?? []);
  const strategy = req.extension ? "explicit" : (req.strategy ?? profile.route?.strategy ?? "single");
  if (req.extension && !candidates.includes(req.extension)) {
    throw new SandboxerError(
      "SBX_EXTENSION_NOT_FOUND",
      `extension '${req.extension}' is not a candidate of ${profile.id} (candidates: ${candidates.join(", ")})`,
      { details: { field: "extension" } },
    );
  }
  const rejected: RouteRejection[] = [];
  const usable: string[] = [];
  for (const id of candidates) {
    const reg = regs.get(id);
    if (!reg) rejected.push({ extension: id, why: "no registration in extensions/" });
    else if (!reg.enabled) rejected.push({ extension: id, why: "disabled in its registration" });
    else if (req.extension && id !== req.extension) rejected.push({ extension: id, why: `--extension ${req.extension} pins another` });
    else usable.push(id);
  }
  const chosen = usable[0];
  if (!chosen) {
    const why = rejected.map((r) => `${r.extension}: ${r.why}`).join("; ");
    throw new SandboxerError("SBX_EXTENSION_DISABLED", `no usable extension for ${profile.id} (${why})`, { details: { rejected } });
  }
  const reason =
    strategy === "explicit"
      ? `pinned with --extension ${chosen}`
      : strategy === "single"
        ? `${profile.id} names ${chosen}`
        : `${strategy}: first usable candidate`;
  return { chosen, strategy, reason, rejected };
}
