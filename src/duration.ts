import { SandboxerError } from "./errors.js";

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Parse `90s`, `30m`, `2h`, `1d`, `1h30m` into seconds. `field` names the input in errors. */
export function parseDuration(text: string, field: string): number {
  const trimmed = text.trim();
  const re = /(\d+)([smhd])/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(trimmed); m; m = re.exec(trimmed)) {
    total += Number(m[1]) * (UNITS[m[2] as string] ?? 0);
    consumed = re.lastIndex;
  }
  if (trimmed === "" || consumed !== trimmed.length || total <= 0 || trimmed.length > 32) {
    throw new SandboxerError("SBX_TTL_INVALID", `${field}: '${text.slice(0, 40)}' is not a duration like 90s, 30m, 2h or 1d`, {
      details: { field },
    });
  }
  return total;
}

/**
 * Seconds in one style everywhere, units that add up exactly (`6h15m`, `30h`,
 * `90s` -> `1m30s`); days only from two days on (`3d2h`), so a day's TTL reads
 * `24h` beside `30h`. parseDuration reads it back.
 */
export function formatDuration(seconds: number): string {
  let left = Math.max(0, Math.round(seconds));
  if (left === 0) return "0s";
  let out = "";
  const units =
    left >= 2 * 86400
      ? ([
          ["d", 86400],
          ["h", 3600],
          ["m", 60],
          ["s", 1],
        ] as const)
      : ([
          ["h", 3600],
          ["m", 60],
          ["s", 1],
        ] as const);
  for (const [unit, size] of units) {
    const n = Math.floor(left / size);
    if (n > 0) out += `${n}${unit}`;
    left -= n * size;
  }
  return out;
}
