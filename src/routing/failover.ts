/**
 * Failover decisions: when the chosen backend fails to provision with a
 * retryable error (and its teardown succeeded), the same record moves to the
 * next candidate in the route's order. The move itself is the broker's
 * (src/broker/failover.ts).
 */
import type { ErrorCode } from "../errors.js";
import type { RouteDecision } from "../types.js";

/** Failures another backend may not share. Timeouts spent the budget; input and credit errors would repeat. */
export const RETRYABLE: readonly ErrorCode[] = ["SBX_PROVISION_FAILED", "SBX_HOST_UNREACHABLE", "SBX_DEPENDENCY_MISSING"];

/** The candidates not yet tried on this record, in the route's order. */
export function remainingCandidates(route: RouteDecision): string[] {
  const tried = new Set([route.chosen, ...(route.attempts ?? []).map((a) => a.extension)]);
  return (route.order ?? []).filter((id) => !tried.has(id));
}
