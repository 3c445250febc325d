/**
 * The JSON examples in docs/integrations/ are produced by the contract tests,
 * never typed by hand. `make examples` runs the tests with
 * SANDBOXER_WRITE_EXAMPLES=1, which writes each example to
 * docs/integrations/examples/<name>.json (scripts/integration-examples.mjs
 * then copies them into the pages). Every other run checks that what the test
 * just produced still holds everything the committed example shows: every key,
 * with the same JSON type, and the same value for the enumerated fields (kind,
 * state, type, ...). New fields are allowed (additions do not break a
 * neighbour); a change that renames, drops or retypes a field fails here.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { expect } from "vitest";

export const EXAMPLES_DIR = join(import.meta.dirname, "..", "..", "docs", "integrations", "examples");

/** Keys whose values are a closed set: part of the contract, compared as values. */
const LITERAL_KEYS = new Set(["kind", "state", "type", "actor", "mode", "reason", "extension", "profile", "code", "method"]);

type Shape = string | Shape[] | { [k: string]: Shape };

/** The example's structure: key names, JSON types, and the values of the enumerated fields. */
export function shapeOf(value: unknown, key = ""): Shape {
  if (value === null) return "null";
  if (Array.isArray(value)) {
    const seen = new Map<string, Shape>();
    for (const v of value) {
      const s = shapeOf(v);
      seen.set(JSON.stringify(s), s);
    }
    return [...seen.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, s]) => s);
  }
  if (typeof value === "object") {
    const out: { [k: string]: Shape } = {};
    for (const k of Object.keys(value as object).sort()) out[k] = shapeOf((value as Record<string, unknown>)[k], k);
    return out;
  }
  // An enumerated value is one token (`user`, `ext.local`); free text under the same key (route.reason) is not.
  if (typeof value === "string" && LITERAL_KEYS.has(key) && /^[A-Za-z0-9_.:-]+$/.test(value)) return `string:${value}`;
  return typeof value;
}

export const writingExamples = () => process.env.SANDBOXER_WRITE_EXAMPLES === "1";

/** Write (in `make examples`) or check (every other run) the example `name`. */
export function recordExample(name: string, value: unknown): void {
  const file = join(EXAMPLES_DIR, `${name}.json`);
  if (writingExamples()) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
    return;
  }
  expect(existsSync(file), `${file} is missing: run \`make examples\``).toBe(true);
  const committed = JSON.parse(readFileSync(file, "utf8")) as unknown;
  const lost = missing(shapeOf(committed), shapeOf(value), name);
  expect(lost, `the code no longer produces what examples/${name}.json shows (a neighbour's contract changed?); if intended, run \`make examples\``).toEqual(
    [],
  );
}

/** Where `produced` lacks something `shown` has: a key, a type, an enumerated value, an array element's shape. */
export function missing(shown: Shape, produced: Shape, at: string): string[] {
  if (typeof shown === "string") return shown === produced ? [] : [`${at}: ${shown}, now ${JSON.stringify(produced)}`];
  if (Array.isArray(shown)) {
    if (!Array.isArray(produced)) return [`${at}: an array, now ${JSON.stringify(produced)}`];
    // Each kind of element shown must still be produced (empty arrays show nothing).
    return shown.flatMap((s, i) => (produced.some((p) => missing(s, p, at).length === 0) ? [] : [`${at}[${i}]: no element of this shape any more`]));
  }
  if (typeof produced !== "object" || Array.isArray(produced)) return [`${at}: an object, now ${JSON.stringify(produced)}`];
  return Object.entries(shown).flatMap(([k, s]) => (k in produced ? missing(s, produced[k] as Shape, `${at}.${k}`) : [`${at}.${k}: gone`]));
}
