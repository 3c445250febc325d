/**
 * The typed client has types, and the docs' TypeScript cannot rot: the
 * package's declarations are emitted (scripts/build-types.mjs) into a
 * consumer's node_modules/sand-boxer, resolved through package.json's
 * `exports`, and every ```ts block of README.md, docs/api.md and
 * docs/extension-sdk.md that imports "sand-boxer" is compiled against them,
 * strictly and with the declarations themselves checked (no skipLibCheck).
 */
import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..");
const DOCS = ["README.md", "docs/api.md", "docs/extension-sdk.md"];
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
// Async: a minute of tsc must not block the worker that reports to vitest.
const run = promisify(execFile);
const tscOutput = (project: string) =>
  run(process.execPath, [tsc, "-p", project], { encoding: "utf8", cwd: project }).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? 1, out: `${e.stdout ?? ""}${e.stderr ?? ""}` }),
  );

/** The ```ts blocks of a Markdown file. */
function tsBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1] as string);
}

let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sbx-consumer-"));
  const pkg = join(dir, "node_modules", "sand-boxer");
  mkdirSync(pkg, { recursive: true });
  copyFileSync(join(ROOT, "package.json"), join(pkg, "package.json"));
  // The package's own dependencies resolve from its directory, as after `npm install <tarball>`.
  symlinkSync(join(ROOT, "node_modules"), join(pkg, "node_modules"));
  mkdirSync(join(dir, "node_modules", "@types"), { recursive: true });
  symlinkSync(join(ROOT, "node_modules", "@types", "node"), join(dir, "node_modules", "@types", "node"));
  await run(process.execPath, [join(ROOT, "scripts", "build-types.mjs"), join(pkg, "dist", "types")], { cwd: ROOT });
}, 300_000);
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the package's declarations and the docs' TypeScript", () => {
  it("package.json points types and exports at the emitted declarations", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
      types: string;
      exports: Record<string, { types: string; default: string }>;
      files: string[];
    };
    expect(pkg.types).toBe("dist/types/index.d.ts");
    expect(pkg.exports["."]).toEqual({ types: "./dist/types/index.d.ts", default: "./dist/index.js" });
    expect(pkg.files).toEqual(expect.arrayContaining(["bin", "dist", "profiles", "extensions"]));
  });

  it("every snippet that imports the package compiles against them; a misuse does not", { timeout: 300_000 }, async () => {
    const files: string[] = [];
    for (const doc of DOCS) {
      tsBlocks(readFileSync(join(ROOT, doc), "utf8"))
        .filter((code) => /from "sand-boxer"/.test(code))
        .forEach((code, i) => {
          const name = `${doc.replace(/[/.]/g, "-")}-${i}.ts`;
          writeFileSync(join(dir, name), `${code}\nexport {};\n`);
          files.push(name);
        });
    }
    // README's install example and the client example of docs/api.md at least.
    expect(files.some((f) => f.startsWith("README"))).toBe(true);
    expect(files.some((f) => f.startsWith("docs-api"))).toBe(true);
    // One compile (tsc is slow here): the snippets must bring no error, the misuse must (the check has teeth).
    writeFileSync(
      join(dir, "wrong.ts"),
      'import { SandboxerClient } from "sand-boxer";\nconst c = new SandboxerClient({ url: 1 });\nawait c.createSandbox({ profile: 2 });\nexport {};\n',
    );
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          noUncheckedIndexedAccess: true,
          noEmit: true,
          types: ["node"],
        },
        files: [...files, "wrong.ts"],
      }),
    );
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "consumer", type: "module", private: true }));
    const r = await tscOutput(dir);
    const errors = r.out.split("\n").filter((l) => /error TS/.test(l));
    expect(errors.filter((l) => !l.startsWith("wrong.ts"))).toEqual([]);
    expect(errors.join("\n")).toMatch(/wrong\.ts\(2,.*Type 'number' is not assignable to type 'string'/);
    expect(errors.join("\n")).toMatch(/wrong\.ts\(3,.*Type 'number' is not assignable to type 'string'/);
  });
});
