// Declarations (.d.ts) for the package entry, src/index.ts: SandboxerClient,
// defineExtension and the record types, for code that installs the package.
// Apart from the bundle (scripts/build.mjs) because tsc takes about a minute on a
// small machine: `make build`, `npm run build` and `npm pack` (prepack) run it;
// a test run does not need it. `node scripts/build-types.mjs [OUT_DIR]`.
import { execFileSync } from "node:child_process";
import { existsSync, renameSync, rmSync } from "node:fs";
import { createRequire } from "node:module";

const out = process.argv[2] ?? "dist/types";
const tmp = `${out}.tmp-${process.pid}`;
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
try {
  execFileSync(process.execPath, [tsc, "-p", "tsconfig.types.json", "--outDir", tmp], { stdio: "inherit" });
  if (existsSync(out)) rmSync(out, { recursive: true, force: true });
  renameSync(tmp, out);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
