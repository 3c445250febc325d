/**
 * Failover: when the chosen backend fails to provision with a retryable
 * error (and its teardown succeeded), the same record moves to the next
 * candidate in the route's order. Each failed attempt stays on the record's
 * `route.attempts` and as a `sandbox.route_failover` event; credits reserved
 * for the old backend are released and the new one's reserved, in one
 * transaction (refused like a create when the account cannot cover it).
 */
import type { CreatePlan } from "../broker/plan.js";
import { eventFor, nowIso, type Runtime } from "../broker/runtime.js";
import { releaseReservation, reserveCredits } from "../credits/index.js";
import { type ErrorCode, type SandboxerError, toSandboxerError } from "../errors.js";
import type { Extension } from "../extensions/define.js";
import { loadExtension } from "../extensions/index.js";
import { type Host, LOCALHOST, type RouteAttempt, type RouteDecision, type SandboxRow } from "../types.js";

/** Failures another backend may not share. Timeouts spent the budget; input and credit errors would repeat. */
export const RETRYABLE: readonly ErrorCode[] = ["SBX_PROVISION_FAILED", "SBX_HOST_UNREACHABLE", "SBX_DEPENDENCY_MISSING"];

export interface NextAttempt {
  ext: Extension;
  inputs: Record<string, unknown>;
  row: SandboxRow;
  host: Host;
}

/** The candidates not yet tried on this record, in the route's order. */
export function remainingCandidates(route: RouteDecision): string[] {
  const tried = new Set([route.chosen, ...(route.attempts ?? []).map((a) => a.extension)]);
  return (route.order ?? []).filter((id) => !tried.has(id));
}

/**
 * Move `row` (still `provisioning`, torn down) to the next candidate, or
 * return null when the error is final or no candidate is left.
 */
export async function failover(rt: Runtime, row: SandboxRow, plan: CreatePlan, err: SandboxerError, signal: AbortSignal): Promise<NextAttempt | null> {
  if (signal.aborted || !RETRYABLE.includes(err.code) || row.state !== "provisioning" || !row.route) return null;
  for (const id of remainingCandidates(row.route)) {
    const attempt: RouteAttempt = { extension: row.extension, code: err.code, message: err.message.slice(0, 500), at: nowIso(rt) };
    const route: RouteDecision = { ...row.route, chosen: id, attempts: [...(row.route.attempts ?? []), attempt] };
    let ext: Extension;
    let inputs: Record<string, unknown>;
    const reg = (await rt.catalog()).registrations.get(id);
    try {
      ext = await loadExtension(id);
      inputs = ext.inputs.parse(plan.inputs);
      if (!reg) throw new Error(`no registration for ${id}`);
    } catch {
      // Usable at plan time, unusable now (registration edited meanwhile): try the one after.
      continue;
    }
    const hostName = route.estimates?.find((e) => e.extension === id)?.host ?? row.host;
    const host = hostName === "localhost" ? LOCALHOST : (rt.config().hosts.get(hostName) ?? LOCALHOST);
    let moved: SandboxRow | undefined;
    try {
      moved = move(rt, row, id, host, route, reg, err, attempt);
    } catch (e) {
      // The account cannot cover the next backend (or the store failed): the create fails with its own error.
      ctxNote(rt, row, `failover to ${id} refused: ${toSandboxerError(e).message}`);
      return null;
    }
    if (!moved) return null;
    return { ext, inputs, row: moved, host };
  }
  return null;
}

function ctxNote(rt: Runtime, row: SandboxRow, message: string): void {
  rt.store.appendEvent(eventFor(rt, "sandbox.progress", row, { message }));
}

function move(rt: Runtime, row: SandboxRow, id: string, host: Host, route: RouteDecision, reg: { pricePerHour: number; currency: string }, err: SandboxerError, attempt: RouteAttempt): SandboxRow | undefined {
  return rt.store.write(() => {
    const cur = rt.store.getSandbox(row.id);
    if (cur?.state !== "provisioning") return undefined;
    releaseReservation(rt, row.id, `failover from ${row.extension} to ${id}`);
    const next: SandboxRow = { ...cur, extension: id, host: host.name, route, handle: null, updatedAt: nowIso(rt) };
    reserveCredits(rt, next, reg);
    rt.store.patchRow(row.id, { extension: id, host: host.name, route, handle: null, cost: next.cost, updatedAt: next.updatedAt });
    rt.store.appendEvent(eventFor(rt, "sandbox.route_failover", cur, { from: row.extension, to: id, code: err.code, error: attempt.message }));
    return rt.store.getSandbox(row.id);
  });
}
