import { SandboxerError } from "../errors.js";

/** Credits are stored as integer micro-credits: 1 credit = 1_000_000 micro. */
export const MICRO = 1_000_000;
const MAX_CREDITS = 1_000_000_000;

/** Parse a user-given amount ("10", "2.5"): positive, at most 6 decimals, at most 1e9. */
export function parseCredits(text: string, field = "amount"): number {
  if (!/^\d{1,10}(\.\d{1,6})?$/.test(text)) {
    throw new SandboxerError("SBX_USAGE", `${field}: '${text.slice(0, 32)}' must be a positive number of credits with at most 6 decimals (e.g. 10 or 2.5)`, {
      details: { field },
    });
  }
  const value = Number(text);
  if (value <= 0 || value > MAX_CREDITS) {
    throw new SandboxerError("SBX_USAGE", `${field}: must be more than 0 and at most ${MAX_CREDITS}`, { details: { field } });
  }
  return Math.round(value * MICRO);
}

export function toCredits(micro: number): number {
  return micro / MICRO;
}

/** "12.5" without float noise: micro-credits are exact integers. */
export function formatCredits(micro: number): string {
  const sign = micro < 0 ? "-" : "";
  const abs = Math.abs(micro);
  const whole = Math.floor(abs / MICRO);
  const frac = String(abs % MICRO)
    .padStart(6, "0")
    .replace(/0+$/, "");
  return `${sign}${whole}${frac ? `.${frac}` : ""}`;
}

/** Worst case of a metered create: price per hour x TTL, rounded up to a micro-credit. */
export function reservationFor(pricePerHour: number, ttlSeconds: number): number {
  return Math.ceil((pricePerHour * MICRO * ttlSeconds) / 3600);
}

/** Actual cost of `seconds` (billed per started second). */
export function costOf(pricePerHour: number, seconds: number): number {
  return Math.ceil((pricePerHour * MICRO * Math.ceil(Math.max(0, seconds))) / 3600);
}
