/**
 * Warm pools as operators see and set them: `pools list | set | drain`, and
 * which pool a create matches. Members are sandbox records with `pool` set
 * (migration 014); claims are src/broker/pools-claim.ts, refills
 * src/broker/pools-refill.ts. See docs/pools.md.
 */
import { isSecretInput, resolveInputs } from "../catalog/inputs.js";
import type { Catalog } from "../catalog/load.js";
import type { Profile } from "../catalog/schema.js";
import { parseDuration } from "../duration.js";
import { SandboxerError } from "../errors.js";
import { type PoolDef, perRequestOf, poolDefs, poolKey, shapingOf } from "./pools-plan.js";
import { extensionOf, type Runtime } from "./runtime.js";

export interface PoolStatus {
  key: string;
  profile: string;
  inputs: Record<string, string>;
  size: number;
  maxIdleSeconds: number;
  source: PoolDef["source"];
  /** Warm members a create can claim now (current profile version, not idle past maxIdle). */
  ready: number;
  /** Refill creates in flight. */
  warming: number;
  /** Creates served by a member, since the pool first counted. */
  claimed: number;
  /** Creates that found the pool empty (they were created cold). */
  misses: number;
  /** claimed / (claimed + misses); null before the first create. */
  hitRate: number | null;
  /** Time from a member being taken (or the pool found short) to its replacement being ready: last and mean, ms. */
  refillLagMs: { last: number; mean: number; samples: number } | null;
  /** Since when the pool has been below its size (null: full). */
  shortSince: string | null;
}

export interface PoolSetting {
  profile: string;
  size: number;
  /** Duration (`30m`); default: the profile's `pool.maxIdle`, else 30m. */
  maxIdle?: string | undefined;
  inputs?: Record<string, string> | undefined;
}

function profileOrThrow(catalog: Catalog, id: string): Profile {
  const p = catalog.profiles.get(id);
  if (!p)
    throw new SandboxerError("SBX_PROFILE_NOT_FOUND", `profile '${id.slice(0, 100)}' does not exist (see: sandboxer profiles list)`, {
      details: { field: "profile" },
    });
  return p;
}

const candidatesOf = (p: Profile) => (p.extension ? [p.extension] : (p.route?.candidates ?? []));

/** Inputs every candidate of the profile takes at claim rather than at provision. */
export async function perRequestInputs(rt: Pick<Runtime, "catalog">, p: Profile): Promise<string[]> {
  return perRequestOf(await Promise.all(candidatesOf(p).map((id) => extensionOf(rt, id))));
}

/** The canonical key of a profile and inputs: resolved with defaults, per-request inputs dropped, then defaults dropped again (a pool named with a default is the plain pool). */
async function canonical(rt: Pick<Runtime, "catalog">, p: Profile, given: Record<string, string>): Promise<{ key: string; shaping: Record<string, string> }> {
  const resolved = resolveInputs(p.inputs, given);
  const shaping = shapingOf(resolved, await perRequestInputs(rt, p));
  const defaults = resolveInputs(p.inputs, {});
  const named = Object.fromEntries(Object.entries(shaping).filter(([k, v]) => defaults[k] !== v));
  return { key: poolKey(p.id, named), shaping: named };
}

export async function loadDefs(rt: Runtime): Promise<PoolDef[]> {
  return poolDefs((await rt.catalog()).profiles, await rt.store.pools.list());
}

/**
 * The pool a create of `profileId` with `inputs` would claim from, or
 * undefined (no pool, size 0, a secret input given, or inputs that do not
 * resolve: the plan reports those).
 */
export async function matchPool(rt: Runtime, profileId: string, inputs: Record<string, string>): Promise<PoolDef | undefined> {
  const catalog = await rt.catalog();
  const p = catalog.profiles.get(profileId);
  if (!p) return undefined;
  const defs = (await loadDefs(rt)).filter((d) => d.profile === profileId && d.size > 0);
  if (!defs.length) return undefined;
  // A secret never keys a pool: it would have to be kept with the pool's setting.
  if (Object.keys(inputs).some((k) => isSecretInput(k, p.inputs[k]))) return undefined;
  let key: string;
  try {
    key = (await canonical(rt, p, inputs)).key;
  } catch {
    return undefined;
  }
  return defs.find((d) => d.key === key);
}

export async function poolStatus(rt: Runtime): Promise<PoolStatus[]> {
  const catalog = await rt.catalog();
  const rows = new Map((await rt.store.pools.list()).map((r) => [r.key, r]));
  const members = await rt.store.pools.members();
  const now = rt.clock.now().getTime();
  return (await loadDefs(rt)).map((d) => {
    const version = catalog.profiles.get(d.profile)?.version;
    const mine = members.filter((m) => m.pool === d.key);
    const ready = mine.filter(
      (m) =>
        m.poolStage === "warm" && m.state === "ready" && m.profileVersion === version && m.readyAt && Date.parse(m.readyAt) >= now - d.maxIdleSeconds * 1000,
    );
    const row = rows.get(d.key);
    const hits = row?.hits ?? 0;
    const misses = row?.misses ?? 0;
    return {
      key: d.key,
      profile: d.profile,
      inputs: d.inputs,
      size: d.size,
      maxIdleSeconds: d.maxIdleSeconds,
      source: d.source,
      ready: ready.length,
      warming: mine.filter((m) => m.poolStage === "warming" && (m.state === "requested" || m.state === "provisioning")).length,
      claimed: hits,
      misses,
      hitRate: hits + misses ? Math.round((hits / (hits + misses)) * 1000) / 1000 : null,
      refillLagMs: row?.lagCount ? { last: row.lagMsLast ?? 0, mean: Math.round(row.lagMsSum / row.lagCount), samples: row.lagCount } : null,
      shortSince: row?.shortSince ?? null,
    };
  });
}

/** `pools set PROFILE --size N [--input k=v]... [--max-idle 30m]`: checked like a create's inputs; refill follows. */
export async function setPool(rt: Runtime, s: PoolSetting): Promise<PoolStatus> {
  const catalog = await rt.catalog();
  const p = profileOrThrow(catalog, s.profile);
  if (!Number.isInteger(s.size) || s.size < 0 || s.size > 1000)
    throw new SandboxerError("SBX_USAGE", "size: must be a whole number from 0 to 1000", { details: { field: "size" } });
  let maxIdleSeconds: number | null = null;
  try {
    if (s.maxIdle !== undefined) maxIdleSeconds = parseDuration(s.maxIdle, "maxIdle");
  } catch {
    throw new SandboxerError("SBX_USAGE", `maxIdle: '${s.maxIdle?.slice(0, 20)}' is not a duration like 90s, 30m or 2h`, { details: { field: "maxIdle" } });
  }
  if (maxIdleSeconds !== null && maxIdleSeconds < 1) throw new SandboxerError("SBX_USAGE", "maxIdle: must be at least 1s", { details: { field: "maxIdle" } });
  const given = s.inputs ?? {};
  const per = await perRequestInputs(rt, p);
  for (const k of Object.keys(given)) {
    if (per.includes(k))
      throw new SandboxerError("SBX_INPUT_INVALID", `input '${k}': applied per request at claim (it does not shape the sandbox); a pool cannot fix it`, {
        details: { field: k },
      });
    if (isSecretInput(k, p.inputs[k]))
      throw new SandboxerError("SBX_INPUT_INVALID", `input '${k}': secret inputs cannot key a pool (they would be kept with its setting)`, {
        details: { field: k },
      });
  }
  const { key, shaping } = await canonical(rt, p, given);
  // Every candidate must accept the inputs, as at a create's plan.
  const resolved = resolveInputs(p.inputs, given);
  for (const id of candidatesOf(p)) {
    const parsed = (await extensionOf(rt, id)).inputs.safeParse(resolved);
    if (!parsed.success) {
      const field = parsed.error.issues[0]?.path.join(".") || "inputs";
      throw new SandboxerError("SBX_INPUT_INVALID", `input '${field}': ${parsed.error.issues[0]?.message ?? "invalid"} (${id})`, { details: { field } });
    }
  }
  await rt.store.pools.put({ key, profile: p.id, inputs: shaping, size: s.size, maxIdleSeconds }, rt.clock.now().toISOString());
  const status = (await poolStatus(rt)).find((x) => x.key === key);
  if (!status) throw new SandboxerError("SBX_INTERNAL", `pool ${key} was set but is not listed`);
  return status;
}

/** The pools `pools drain PROFILE [--input k=v]` names: one (with inputs) or every pool of the profile. */
export async function poolsToDrain(rt: Runtime, profile: string, inputs: Record<string, string> | undefined): Promise<PoolDef[]> {
  const p = profileOrThrow(await rt.catalog(), profile);
  const defs = (await loadDefs(rt)).filter((d) => d.profile === p.id);
  if (inputs === undefined) return defs;
  const { key } = await canonical(rt, p, inputs);
  const one = defs.find((d) => d.key === key);
  if (!one) throw new SandboxerError("SBX_NOT_FOUND", `no pool '${key}' (see: sandboxer pools list)`, { details: { field: "inputs" } });
  return [one];
}

/** The pool a create would claim from and its claimable members per `extension@host` (routing) and per extension (the record). */
export async function warmPool(
  rt: Runtime,
  profileId: string,
  inputs: Record<string, string>,
): Promise<{ key: string; warm: Map<string, number>; byExtension: Record<string, number> } | undefined> {
  const def = await matchPool(rt, profileId, inputs);
  const version = (await rt.catalog()).profiles.get(profileId)?.version;
  if (!def || version === undefined) return undefined;
  const readyAfter = new Date(rt.clock.now().getTime() - def.maxIdleSeconds * 1000).toISOString();
  const warm = await rt.store.pools.warmCounts(def.key, version, readyAfter);
  const byExtension: Record<string, number> = {};
  for (const [k, n] of warm) {
    const ext = k.slice(0, k.indexOf("@"));
    byExtension[ext] = (byExtension[ext] ?? 0) + n;
  }
  return { key: def.key, warm, byExtension };
}
