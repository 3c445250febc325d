#!/usr/bin/env node
/**
 * Copy the examples the contract tests wrote (docs/integrations/examples/*.json)
 * into the pages that include them, between
 *   <!-- example: NAME -->  and  <!-- /example -->
 * `make examples` runs it after the tests; test/contracts/pages.test.ts fails
 * when a page's copy differs from its file. `--check` only reports.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const DIR = join(import.meta.dirname, "..", "docs", "integrations");
const BLOCK = /<!-- example: ([a-z0-9-]+) -->\n[\s\S]*?<!-- \/example -->/g;
const check = process.argv.includes("--check");
let stale = 0;
for (const page of readdirSync(DIR).filter((f) => f.endsWith(".md"))) {
  const file = join(DIR, page);
  const text = readFileSync(file, "utf8");
  const next = text.replace(BLOCK, (_m, name) => {
    const json = readFileSync(join(DIR, "examples", `${name}.json`), "utf8");
    return `<!-- example: ${name} -->\n\`\`\`json\n${json}\`\`\`\n<!-- /example -->`;
  });
  if (next === text) continue;
  stale++;
  if (check) process.stderr.write(`${page}: examples differ from docs/integrations/examples/ (run make examples)\n`);
  else writeFileSync(file, next);
}
if (check && stale) process.exitCode = 1;
