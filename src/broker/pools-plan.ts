/**
 * Warm pools, the pure part: which pools exist (profiles' `pool` and what
 * operators set at run time), which pool a create matches, and what a refill
 * pass should do. No I/O: src/broker/pools-claim.ts and pools-refill.ts apply
 * these decisions.
 */
import type { Profile } from "../catalog/schema.js";
import { parseDuration } from "../duration.js";
import type { PoolRow } from "../store/types.js";
import type { SandboxRow } from "../types.js";

export const DEFAULT_MAX_IDLE = "30m";
/** Extra life past maxIdle on a member's record and its vendor timeout: the keeper destroys it first; expiry is the safety net. */
export const MEMBER_GRACE_SECONDS = 600;

export interface PoolDef {
  key: string;
  profile: string;
  /** What members are made with (shaping inputs only). */
  inputs: Record<string, string>;
  size: number;
  maxIdleSeconds: number;
  /** `profile`: from the profile's `pool`; `set`: `pools set`; `drained`: size 0 after `pools drain`. */
  source: "profile" | "set" | "drained";
}

const sorted = (inputs: Record<string, string>) => Object.entries(inputs).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/** `profile.x`, or `profile.x?k=v&...` (sorted, values URI-encoded): one pool per profile and shaping inputs. */
export function poolKey(profile: string, inputs: Record<string, string>): string {
  const q = sorted(inputs)
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
    .join("&");
  return q ? `${profile}?${q}` : profile;
}

/** The inputs that shape a sandbox: all but the per-request ones. */
export function shapingOf(inputs: Record<string, string>, perRequest: readonly string[]): Record<string, string> {
  return Object.fromEntries(sorted(inputs).filter(([k]) => !perRequest.includes(k)));
}

/** Per-request inputs of a profile: those every candidate extension takes at claim. */
export function perRequestOf(candidates: readonly { perRequest?: { inputs: readonly string[] } | undefined }[]): string[] {
  const [first, ...rest] = candidates;
  if (!first?.perRequest) return [];
  return first.perRequest.inputs.filter((k) => rest.every((c) => c.perRequest?.inputs.includes(k)));
}

/**
 * Every pool: each profile's `pool` (key = the profile id, default inputs),
 * with run-time rows (`pools set`, `pools drain`) taking precedence for the
 * same key and adding pools of their own. Rows of removed profiles are left out.
 */
export function poolDefs(profiles: ReadonlyMap<string, Pick<Profile, "id" | "pool">>, rows: readonly PoolRow[]): PoolDef[] {
  const defs = new Map<string, PoolDef>();
  for (const p of profiles.values()) {
    if (!p.pool) continue;
    defs.set(p.id, {
      key: p.id,
      profile: p.id,
      inputs: {},
      size: p.pool.size,
      maxIdleSeconds: parseDuration(p.pool.maxIdle, "pool.maxIdle"),
      source: "profile",
    });
  }
  for (const r of rows) {
    const profile = profiles.get(r.profile);
    if (!profile || r.size === null) continue;
    const maxIdle = r.maxIdleSeconds ?? parseDuration(profile.pool?.maxIdle ?? DEFAULT_MAX_IDLE, "pool.maxIdle");
    defs.set(r.key, { key: r.key, profile: r.profile, inputs: r.inputs, size: r.size, maxIdleSeconds: maxIdle, source: r.size === 0 ? "drained" : "set" });
  }
  return [...defs.values()].sort((a, b) => (a.key < b.key ? -1 : 1));
}

export interface RefillDecision {
  destroy: { id: string; why: string }[];
  /** How many refill creates to start now. */
  create: number;
  /** Members still wanted after those creates (the pool is short). */
  short: number;
}

/**
 * What one refill pass does to one pool: destroy warm members that are idle
 * past maxIdle, of an older profile version, or beyond the size; start
 * creates for the rest of the deficit, at most `perPool` in flight.
 * `alive(row)` tells whether a warming member's refill is still running
 * (a dead one is reconcile's to clean up, and is not counted).
 */
export function decideRefill(
  def: PoolDef | undefined,
  members: readonly SandboxRow[],
  profileVersion: number | undefined,
  now: Date,
  perPool: number,
  alive: (r: SandboxRow) => boolean,
): RefillDecision {
  const destroy: { id: string; why: string }[] = [];
  const warm = members.filter((m) => m.poolStage === "warm" && m.state === "ready").sort((a, b) => ((a.readyAt ?? "") < (b.readyAt ?? "") ? -1 : 1));
  const warming = members.filter((m) => m.poolStage === "warming" && (m.state === "requested" || m.state === "provisioning") && alive(m));
  const keep: SandboxRow[] = [];
  const idleCut = def ? now.getTime() - def.maxIdleSeconds * 1000 : 0;
  for (const m of warm) {
    if (!def) destroy.push({ id: m.id, why: "its pool no longer exists" });
    else if (profileVersion !== undefined && m.profileVersion !== profileVersion)
      destroy.push({ id: m.id, why: `made from version ${m.profileVersion}; ${def.profile} is at version ${profileVersion}` });
    else if (m.readyAt && Date.parse(m.readyAt) < idleCut) destroy.push({ id: m.id, why: `idle past maxIdle (${def.maxIdleSeconds}s)` });
    else keep.push(m);
  }
  const size = def?.size ?? 0;
  // Beyond the size (shrunk or drained): the newest go first, the oldest stay to be claimed soonest.
  for (const m of keep.splice(size).reverse()) destroy.push({ id: m.id, why: size === 0 ? "the pool is drained" : `beyond the pool's size (${size})` });
  const deficit = Math.max(0, size - keep.length - warming.length);
  const create = Math.min(deficit, Math.max(0, perPool - warming.length));
  return { destroy, create, short: deficit - create };
}
