import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ERROR_CATALOG } from "../src/errors.js";

describe("docs/errors.md", () => {
  const doc = readFileSync(new URL("../docs/errors.md", import.meta.url), "utf8");
  const rows = new Map([...doc.matchAll(/^\| `(SBX_[A-Z_]+)` \| (\d) \| (\d{3}) \|/gm)].map((m) => [m[1], { exit: Number(m[2]), http: Number(m[3]) }]));

  it("documents every code in src/errors.ts with its exit code and HTTP status", () => {
    for (const [code, spec] of Object.entries(ERROR_CATALOG)) {
      expect(rows.get(code), `${code} missing from docs/errors.md`).toEqual({ exit: spec.exit, http: spec.http });
    }
  });

  it("documents no code that does not exist", () => {
    for (const code of rows.keys()) expect(Object.hasOwn(ERROR_CATALOG, code as string), `${code} is not in src/errors.ts`).toBe(true);
  });
});
