import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const SCRIPT = join(import.meta.dirname, "..", "scripts", "check-imports.mjs");
const check = (src?: string) => spawnSync(process.execPath, [SCRIPT, ...(src ? [src] : [])], { encoding: "utf8" });

describe("the direction of imports (scripts/check-imports.mjs, run by make lint)", () => {
  it("holds for src/", () => {
    const r = check();
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("names the file, line and rule of every import against the layering", () => {
    const dir = mkdtempSync(join(tmpdir(), "sbx-imports-"));
    try {
      const put = (rel: string, text: string) => {
        mkdirSync(join(dir, rel, ".."), { recursive: true });
        writeFileSync(join(dir, rel), text);
      };
      put("types.ts", "export type X = 1;\n");
      put("broker.ts", 'import type { X } from "./types.js";\nexport type B = X;\n');
      put("broker/runtime.ts", "export const rt = 1;\n");
      put("store/sqlite.ts", 'import { rt } from "../broker/runtime.js";\nexport const s = rt;\n');
      put("api/routes.ts", 'import type { B } from "../broker.js";\n\nimport { s } from "../store/sqlite.js";\nexport const r: B | number = s;\n');
      put("extensions/x/index.ts", 'export const load = () => import("../../api/routes.js");\n');
      put("mystery/thing.ts", "export const t = 1;\n");
      const r = check(dir);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain("src/store/sqlite.ts:1: 'store/' may not import '../broker/runtime.js'");
      expect(r.stderr).toContain("src/api/routes.ts:3: 'api/' may not import '../store/sqlite.js'");
      expect(r.stderr).toContain("src/extensions/x/index.ts:1: 'extensions/' may not import '../../api/routes.js'");
      expect(r.stderr).toContain("no import rule for 'mystery/'");
      expect(r.stderr).not.toContain("broker.ts:");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
