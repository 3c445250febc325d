/** Pure formatting for the dashboard: durations, money, sizes, state colours. */
import { costOf, toCredits } from "../credits/amount.js";
import type { Sandbox, SandboxState } from "../types.js";

/** "45s", "12m", "3h 4m", "5d 2h": two units at most, dense enough for a table cell. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h}h ${m % 60}m` : `${h}h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d}d ${h % 24}h` : `${d}d`;
}

export const age = (sb: Pick<Sandbox, "createdAt">, now: Date): string => duration(now.getTime() - Date.parse(sb.createdAt));

const CLOSED: readonly SandboxState[] = ["destroyed", "failed"];

/** Time until the TTL ends; "expired" once past; "-" for closed records or no TTL. */
export function ttlLeft(sb: Pick<Sandbox, "state" | "expiresAt">, now: Date): string {
  if (CLOSED.includes(sb.state) || !sb.expiresAt) return "-";
  const left = Date.parse(sb.expiresAt) - now.getTime();
  return left <= 0 ? "expired" : duration(left);
}

const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

/**
 * Credits spent so far: what was settled for a closed record; for a live
 * metered one, its price for the time since ready (billed per started
 * second, capped at what was reserved), as the ledger will settle it.
 */
export function spentSoFar(sb: Pick<Sandbox, "state" | "readyAt" | "cost" | "destroyedAt">, now: Date): number {
  const cost = sb.cost ?? {};
  const settled = num(cost.settled);
  if (CLOSED.includes(sb.state)) return settled ?? 0;
  const price = num(cost.pricePerHour) ?? 0;
  if (!sb.readyAt || price <= 0) return settled ?? 0;
  const micro = costOf(price, (now.getTime() - Date.parse(sb.readyAt)) / 1000);
  const reserved = num(cost.reserved);
  const spent = toCredits(micro);
  return reserved !== undefined ? Math.min(spent, reserved) : spent;
}

/** Credits with at most 4 decimals, no float noise. */
export function money(v: number): string {
  if (v === 0) return "0";
  const abs = Math.abs(v);
  return abs >= 100 ? v.toFixed(2).replace(/\.?0+$/, "") : v.toFixed(4).replace(/\.?0+$/, "");
}

export function bytes(n: unknown): string {
  if (typeof n !== "number" || !Number.isFinite(n)) return "-";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** The colour family of a state (CSS class `st-<tone>`). */
export function stateTone(state: string): "ok" | "busy" | "bad" | "off" {
  if (state === "ready") return "ok";
  if (state === "requested" || state === "provisioning" || state === "destroying") return "busy";
  if (state === "failed" || state === "destroy_failed") return "bad";
  return "off";
}

/** ISO timestamp shortened for a cell: "2026-11-24 01:26:55". */
export const stamp = (iso: string | null | undefined): string => (iso ? iso.replace("T", " ").replace(/\.\d+Z$|Z$/, "") : "-");
