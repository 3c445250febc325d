/**
 * Pure TTL decisions (STYLE.md #4): no I/O, the clock is an argument, so the
 * rules are tested on a fake clock and the broker only applies the decision.
 */
import { formatDuration } from "../duration.js";
import { SandboxerError } from "../errors.js";
import type { Sandbox, SandboxState } from "../types.js";

/** States whose expiry can still be moved; later ones are already on their way out. */
export const EXTENDABLE: readonly SandboxState[] = ["requested", "provisioning", "ready"];

export interface ExtendDecision {
  expiresAt: string;
  /** Whole lifetime from createdAt, what `ttlSeconds` on the record means. */
  ttlSeconds: number;
  addedSeconds: number;
}

type TtlFields = Pick<Sandbox, "id" | "state" | "createdAt" | "expiresAt" | "profile">;

/**
 * `extend-ttl ID --duration D`: the new expiry is D after the current one (or
 * after now, if it already passed but the reaper has not acted yet). The
 * profile maximum bounds the whole lifetime counted from createdAt, so repeated
 * extensions cannot keep a sandbox alive past what its profile allows.
 */
export function decideExtend(sb: TtlFields, addSeconds: number, maxSeconds: number, now: Date, maxOf: string = sb.profile): ExtendDecision {
  if (!EXTENDABLE.includes(sb.state)) {
    throw new SandboxerError("SBX_INVALID_STATE", `${sb.id} is ${sb.state}; only a live sandbox's TTL can be extended`, {
      details: { id: sb.id, state: sb.state },
    });
  }
  const created = Date.parse(sb.createdAt);
  const current = sb.expiresAt ? Date.parse(sb.expiresAt) : now.getTime();
  const base = Math.max(current, now.getTime());
  const next = base + addSeconds * 1000;
  const lifetime = Math.ceil((next - created) / 1000);
  if (lifetime > maxSeconds) {
    const room = Math.floor((created + maxSeconds * 1000 - base) / 1000);
    const hint = room > 0 ? `at most ${formatDuration(room)} more is allowed` : "it is already at its maximum";
    throw new SandboxerError(
      "SBX_TTL_INVALID",
      `duration: extending ${sb.id} by ${formatDuration(addSeconds)} would give it a lifetime of ${formatDuration(lifetime)}, over the maximum ${formatDuration(maxSeconds)} of ${maxOf}; ${hint}`,
      { details: { field: "duration", maxSeconds, roomSeconds: Math.max(0, room) } },
    );
  }
  return { expiresAt: new Date(next).toISOString(), ttlSeconds: lifetime, addedSeconds: addSeconds };
}

/** Expired = ready with an expiry at or before now (the reaper destroys these with reason `ttl`). */
export function isExpired(sb: Pick<Sandbox, "state" | "expiresAt">, now: Date): boolean {
  return sb.state === "ready" && sb.expiresAt !== null && Date.parse(sb.expiresAt) <= now.getTime();
}

/**
 * How long the reaper may sleep: until the next expiry, but never longer than
 * its interval (destroy_failed retries and reconcile run on the interval).
 */
export function nextWakeMs(sandboxes: readonly Pick<Sandbox, "state" | "expiresAt">[], now: Date, intervalMs: number): number {
  let wake = intervalMs;
  for (const sb of sandboxes) {
    if (sb.state !== "ready" || !sb.expiresAt) continue;
    wake = Math.min(wake, Math.max(0, Date.parse(sb.expiresAt) - now.getTime()));
  }
  return wake;
}
