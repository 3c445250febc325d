import { table } from "./output.js";

/**
 * Human rendering of a record's structured fields (reachability's services,
 * ports, urls, host facts): scalars inline, lists one per line, objects as
 * aligned key/value lines, rows of objects as a table. Never raw JSON unless
 * the shape is none of these.
 */
type Scalar = string | number | boolean;
const isScalar = (v: unknown): v is Scalar => typeof v === "string" || typeof v === "number" || typeof v === "boolean";
const isFlat = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v) && Object.values(v).every((x) => x === null || isScalar(x));
const cell = (v: unknown): string => (v === null || v === undefined || v === "" ? "-" : String(v));

function columns(rows: Record<string, unknown>[]): string[] {
  const keys: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!keys.includes(k)) keys.push(k);
  return keys;
}

const header = (k: string) => k.replace(/([a-z])([A-Z])/g, "$1 $2").toUpperCase();

/** The lines of one field's value; empty when there is nothing worth showing (null, empty list). */
export function fieldLines(value: unknown, name = "name"): string[] {
  if (value === null || value === undefined) return [];
  if (isScalar(value)) return String(value).split("\n");
  if (Array.isArray(value)) {
    if (value.every(isScalar)) return value.map(String);
    if (value.every(isFlat)) {
      const keys = columns(value);
      return table(
        keys.map(header),
        value.map((r) => keys.map((k) => cell(r[k]))),
      ).split("\n");
    }
    return [JSON.stringify(value)];
  }
  if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>);
    if (!entries.length) return [];
    // A map of rows (services by name): one table, the key first.
    if (entries.every(([, v]) => isFlat(v))) {
      const keys = columns(entries.map(([, v]) => v as Record<string, unknown>));
      return table(
        [header(name), ...keys.map(header)],
        entries.map(([k, v]) => [k, ...keys.map((c) => cell((v as Record<string, unknown>)[c]))]),
      ).split("\n");
    }
    // Key/value lines; a list of scalars (an argv) on its key's line, space-separated.
    if (entries.every(([, v]) => v === null || isScalar(v) || (Array.isArray(v) && v.every(isScalar)))) {
      const width = Math.max(...entries.map(([k]) => k.length));
      return entries.map(([k, v]) => `${k.padEnd(width)}  ${Array.isArray(v) ? v.join(" ") || "-" : cell(v)}`);
    }
  }
  return [JSON.stringify(value)];
}

/** Singular column name for a map's keys (`services` -> SERVICE). */
export function keyName(field: string): string {
  return field.endsWith("s") ? field.slice(0, -1) : field;
}

/**
 * `key value` lines, padded to `pad`; a value of several lines prints under
 * its key, indented; `skip` leaves fields out (the caller prints them itself).
 */
export function fieldRows(record: Record<string, unknown>, pad: number, opts: { skip?: readonly string[] } = {}): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(record)) {
    if (opts.skip?.includes(k)) continue;
    const lines = fieldLines(v, keyName(k));
    if (!lines.length) continue;
    const structured = v !== null && typeof v === "object";
    if (lines.length === 1 && !(structured && !Array.isArray(v))) out.push(`  ${k.padEnd(pad)} ${lines[0]}`);
    else out.push(`  ${k}`, ...lines.map((l) => `    ${l}`));
  }
  return out;
}
