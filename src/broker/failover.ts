/**
 * Failover: move a record whose backend failed to provision (retryable, torn
 * down) to the next candidate. Each failed attempt stays on the record's
 * `route.attempts` and as a `sandbox.route_failover` event; credits reserved
 * for the old backend are released and the new one's reserved, in one
 * transaction (refused like a create when the account cannot cover it).
 */
import { POOL_ACCOUNT } from "../credits/index.js";
import { type SandboxerError, toSandboxerError } from "../errors.js";
import type { Extension } from "../extensions/define.js";
import { RETRYABLE, remainingCandidates } from "../routing/failover.js";
import { type Host, LOCALHOST, type RouteAttempt, type RouteDecision, type SandboxRow } from "../types.js";
import { releaseReservation, reserveCredits } from "./credits.js";
import type { CreatePlan } from "./plan.js";
import { eventFor, nowIso, type Runtime, extensionOf } from "./runtime.js";

export interface NextAttempt {
  ext: Extension;
  inputs: Record<string, unknown>;
  row: SandboxRow;
  host: Host;
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
      ext = await extensionOf(rt, id);
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
      moved = await move(rt, row, id, host, route, reg, err, attempt);
    } catch (e) {
      // The account cannot cover the next backend (or the store failed): the create fails with its own error.
      await rt.store.events.append(eventFor(rt, "sandbox.progress", row, { message: `failover to ${id} refused: ${toSandboxerError(e).message}` }));
      return null;
    }
    if (!moved) return null;
    return { ext, inputs, row: moved, host };
  }
  return null;
}

function move(
  rt: Runtime,
  row: SandboxRow,
  id: string,
  host: Host,
  route: RouteDecision,
  reg: { pricePerHour: number; currency: string },
  err: SandboxerError,
  attempt: RouteAttempt,
): Promise<SandboxRow | undefined> {
  return rt.store.tx(async (t) => {
    const cur = await t.sandboxes.getForUpdate(row.id);
    if (cur?.state !== "provisioning") return undefined;
    await releaseReservation(rt, t, row.id, `failover from ${row.extension} to ${id}`);
    const next: SandboxRow = { ...cur, extension: id, host: host.name, route, handle: null, updatedAt: nowIso(rt) };
    // A refill's member keeps drawing on the pool account.
    await reserveCredits(rt, t, next, reg, ...(cur.pool ? [POOL_ACCOUNT] : []));
    await t.sandboxes.update(row.id, { extension: id, host: host.name, route, handle: null, cost: next.cost, updatedAt: next.updatedAt });
    await t.events.append(eventFor(rt, "sandbox.route_failover", cur, { from: row.extension, to: id, code: err.code, error: attempt.message }));
    return t.sandboxes.get(row.id);
  });
}
