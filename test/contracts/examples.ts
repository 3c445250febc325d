/**
 * The JSON examples in docs/integrations/ are produced by the contract tests,
 * never typed by hand. `make examples` runs the tests with
 * SANDBOXER_WRITE_EXAMPLES=1, which writes each example to
 * docs/integrations/examples/<name>.json (scripts/integration-examples.mjs
 * then copies them into the pages). Every other run checks that what the test
 * just produced still has the committed example's shape: same keys, same JSON
 * types, same values for the enumerated fields (kind, state, type, ...). A
 * change that renames or drops a field a neighbour reads fails here.
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
  if (typeof value === "string" && LITERAL_KEYS.has(key)) return `string:${value}`;
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
  expect(shapeOf(value), `the example ${name}.json no longer matches what the code produces (a neighbour's contract changed?); if intended, run \`make examples\``).toEqual(shapeOf(committed));
}
