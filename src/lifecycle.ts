import { SandboxerError } from "./errors.js";
import type { SandboxState } from "./types.js";

/** Allowed transitions (DESIGN.md lifecycle). Anything else is a bug or a race lost. */
const ALLOWED: Record<SandboxState, readonly SandboxState[]> = {
  requested: ["provisioning", "failed"],
  provisioning: ["ready", "failed"],
  ready: ["destroying"],
  failed: ["destroying"],
  destroying: ["destroyed", "destroy_failed"],
  destroy_failed: ["destroying"],
  destroyed: [],
};

export const LIVE_STATES: readonly SandboxState[] = ["requested", "provisioning", "ready", "destroying", "destroy_failed"];
export const IN_FLIGHT_STATES: readonly SandboxState[] = ["requested", "provisioning", "destroying"];

export function canTransition(from: SandboxState, to: SandboxState): boolean {
  return ALLOWED[from].includes(to);
}

export function assertTransition(id: string, from: SandboxState, to: SandboxState): void {
  if (!canTransition(from, to)) {
    throw new SandboxerError("SBX_INVALID_STATE", `sandbox ${id} is ${from}; cannot move to ${to}`, {
      details: { id, from, to },
    });
  }
}

/** States from which a user destroy is accepted. */
export const DESTROYABLE: readonly SandboxState[] = ["ready", "failed", "destroy_failed"];
