/**
 * docs/integrations/: one page per neighbour, each with the four sections the
 * contract asks for, every JSON example a copy of a file the contract tests
 * produce (never typed by hand), every produced example shown somewhere, and
 * no link to a file that does not exist.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { EXAMPLES_DIR, writingExamples } from "./examples.js";

const DIR = join(import.meta.dirname, "..", "..", "docs", "integrations");
const PAGES = ["wise-validator", "glas-harness", "snuggle-inventor", "activity-core", "the-custodian", "state-hub", "ops-bridge", "ops-warden"];
const BLOCK = /<!-- example: ([a-z0-9-]+) -->\n([\s\S]*?)<!-- \/example -->/g;

describe("docs/integrations pages", () => {
  it.each(PAGES)("%s.md says what they call, what they get back, the errors and the versioning", (name) => {
    const md = readFileSync(join(DIR, `${name}.md`), "utf8");
    for (const h of ["## What they call", "## What they get back", "## Errors", "## Versioning"]) expect(md, `${name}.md lacks '${h}'`).toContain(h);
    expect(md).toMatch(/test\/contracts\/[a-z-]+\.test\.ts/);
    expect([...md.matchAll(BLOCK)].length, `${name}.md shows no produced example`).toBeGreaterThan(0);
  });

  // `make examples` copies the files into the pages after the tests that write them.
  it.skipIf(writingExamples())("every example block is exactly the file a contract test wrote (run `make examples` after a change)", () => {
    const shown = new Set<string>();
    for (const page of readdirSync(DIR).filter((f) => f.endsWith(".md"))) {
      for (const [, name, body] of readFileSync(join(DIR, page), "utf8").matchAll(BLOCK)) {
        const file = join(EXAMPLES_DIR, `${name}.json`);
        expect(existsSync(file), `${page}: no examples/${name}.json`).toBe(true);
        expect(body, `${page}: example ${name} differs from examples/${name}.json`).toBe(`\`\`\`json\n${readFileSync(file, "utf8")}\`\`\`\n`);
        shown.add(name as string);
      }
    }
    const produced = readdirSync(EXAMPLES_DIR).map((f) => f.replace(/\.json$/, ""));
    expect(
      produced.filter((n) => !shown.has(n)),
      "examples no page shows",
    ).toEqual([]);
  });

  it("links only to files that exist (also INTENT.md and docs/migration-gaps.md)", () => {
    const root = join(DIR, "..", "..");
    const files = [
      ...readdirSync(DIR)
        .filter((f) => f.endsWith(".md"))
        .map((f) => join(DIR, f)),
      join(root, "INTENT.md"),
      join(root, "docs", "migration-gaps.md"),
    ];
    for (const file of files) {
      for (const m of readFileSync(file, "utf8").matchAll(/\]\((?!https?:|#)([^)#]+)(?:#[^)]*)?\)/g)) {
        expect(existsSync(join(dirname(file), m[1] as string)), `${file}: broken link ${m[1]}`).toBe(true);
      }
    }
  });
});
