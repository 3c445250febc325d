/**
 * docs/extension-sdk.md's skeleton is what the doc says it is: its blocks
 * (each opens with a comment naming its file) are written into a copy of
 * this tree exactly as a new extension's author would, type-checked, and the
 * doc's own contract test is run there with vitest.
 */
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..");
const run = promisify(execFile);
const require = createRequire(import.meta.url);
const outcome = (p: Promise<{ stdout: string; stderr: string }>) =>
  p.then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? 1, out: `${e.stdout ?? ""}${e.stderr ?? ""}` }),
  );

/** Fenced blocks whose first line is a comment naming a file: path -> the block. */
function fileBlocks(markdown: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of markdown.matchAll(/^```(?:ts|yaml)\n(?:\/\/|#) (\S+)[^\n]*\n([\s\S]*?)^```$/gm)) out.set(m[1] as string, m[2] as string);
  return out;
}

let copy: string;
let blocks: Map<string, string>;
beforeAll(() => {
  blocks = fileBlocks(readFileSync(join(ROOT, "docs", "extension-sdk.md"), "utf8"));
  copy = mkdtempSync(join(tmpdir(), "sbx-sdk-"));
  for (const part of ["src", "test", "profiles", "extensions", "scripts", "package.json", "tsconfig.json", "vitest.config.ts"])
    cpSync(join(ROOT, part), join(copy, part), { recursive: true });
  symlinkSync(join(ROOT, "node_modules"), join(copy, "node_modules"));
  for (const [path, text] of blocks) {
    if (path === "src/extensions/index.ts") continue;
    mkdirSync(dirname(join(copy, path)), { recursive: true });
    writeFileSync(join(copy, path), text);
  }
  // The registry line goes into BUILTIN, where the doc says.
  const index = join(copy, "src", "extensions", "index.ts");
  const registry = readFileSync(index, "utf8");
  const at = registry.indexOf("= {\n", registry.indexOf("const BUILTIN")) + 4;
  writeFileSync(index, registry.slice(0, at) + (blocks.get("src/extensions/index.ts") ?? "") + registry.slice(at));
});
afterAll(() => {
  if (copy) rmSync(copy, { recursive: true, force: true });
});

describe("docs/extension-sdk.md", () => {
  it("shows every file a new extension needs", () => {
    expect([...blocks.keys()].sort()).toEqual(
      [
        "extensions/example.yaml",
        "src/extensions/example/index.ts",
        "src/extensions/index.ts",
        "test/ext-example.test.ts",
        "test/fixtures/example-profiles/profile.example.yaml",
      ].sort(),
    );
  });

  it("its skeleton and test type-check in the tree", { timeout: 300_000 }, async () => {
    writeFileSync(
      join(copy, "tsconfig.sdk.json"),
      JSON.stringify({
        extends: "./tsconfig.json",
        include: [],
        files: ["src/extensions/example/index.ts", "src/extensions/index.ts", "test/ext-example.test.ts"],
      }),
    );
    const r = await outcome(run(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", "tsconfig.sdk.json"], { cwd: copy }));
    expect(r.out).toBe("");
    expect(r.code).toBe(0);
  });

  it("its skeleton passes the contract suite the doc tells you to run", { timeout: 300_000 }, async () => {
    const vitest = join(dirname(require.resolve("vitest/package.json")), "vitest.mjs");
    const r = await outcome(
      run(process.execPath, [vitest, "run", "test/ext-example.test.ts"], {
        cwd: copy,
        env: { ...process.env, CI: "1", NO_COLOR: "1", FORCE_COLOR: "0" },
        maxBuffer: 16 * 1024 * 1024,
      }),
    );
    expect(r.out).toMatch(/Tests {2}8 passed \(8\)/);
    expect(r.code).toBe(0);
  });
});
