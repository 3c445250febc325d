import { type Limits, sizeBytes } from "./schema.js";

/**
 * What a sandbox gets when its profile says nothing (docs/security.md, "Resource
 * limits", says why): enough for a build or a test run with parallel workers,
 * small enough that one runaway sandbox leaves the host and the API working.
 */
export const DEFAULT_LIMITS = { processes: 512, memory: "2g", disk: "4g", cpu: 1 } as const satisfies Required<Limits>;

export type LimitName = keyof typeof DEFAULT_LIMITS;
export const LIMIT_NAMES = Object.keys(DEFAULT_LIMITS) as LimitName[];

/** Every limit set, as the profile wrote it or from the defaults. */
export type FullLimits = Required<Limits>;

/** A limit as a number to compare (bytes for sizes); Infinity for `unlimited`. */
export function limitAmount(v: FullLimits[LimitName]): number {
  if (v === "unlimited") return Number.POSITIVE_INFINITY;
  return typeof v === "number" ? v : sizeBytes(v);
}

export interface LimitCap {
  /** The extension whose registration states the cap, and the file it came from. */
  extension: string;
  file: string;
  limits: Limits;
}

/**
 * A profile's limits with the defaults filled in and the registrations' caps
 * applied: a default above a cap is lowered to it; a value the profile asked
 * for above a cap is an error naming the field (the profile does not load).
 * Pure: the catalog loader and ext.local both call it.
 */
export function resolveLimits(asked: Limits, caps: LimitCap[] = []): { limits: FullLimits; errors: { field: string; message: string }[] } {
  const limits = { ...DEFAULT_LIMITS } as FullLimits;
  const errors: { field: string; message: string }[] = [];
  for (const name of LIMIT_NAMES) {
    const wanted = asked[name];
    let value = (wanted ?? DEFAULT_LIMITS[name]) as FullLimits[LimitName];
    for (const cap of caps) {
      const most = cap.limits[name];
      if (most === undefined || limitAmount(most) >= limitAmount(value)) continue;
      if (wanted !== undefined) {
        errors.push({ field: `limits.${name}`, message: `${wanted} is above ${cap.extension}'s cap of ${most} (${cap.file}: limits.${name})` });
        break;
      }
      value = most;
    }
    (limits as Record<LimitName, unknown>)[name] = value;
  }
  return { limits, errors };
}
