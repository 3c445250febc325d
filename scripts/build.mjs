// Bundle the CLI (and the library entry) with esbuild: one parse instead of
// hundreds of module resolutions keeps a cold `sandboxer list` fast.
// Command modules stay separate chunks, loaded only when used.
import { existsSync, renameSync, rmSync } from "node:fs";
import { build } from "esbuild";

// Build beside dist/ and swap it in, so a CLI started from the old build (by a
// concurrent test run) never finds its chunks half-deleted; chunk names are
// content hashes, so the new dist/ holds exactly one build.
const tmp = `dist.tmp-${process.pid}`;
const old = `dist.old-${process.pid}`;

await build({
  entryPoints: { cli: "src/cli/main.ts", index: "src/index.ts" },
  outdir: tmp,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: true,
  // Vendor SDKs stay in node_modules: loaded at run time only by their extension, never bundled.
  external: ["better-sqlite3", "e2b", "@daytonaio/sdk", "modal", "@kubernetes/client-node"],
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: "warning",
});

// The declarations (scripts/build-types.mjs) are built apart: keep them across a bundle rebuild.
if (existsSync("dist/types")) renameSync("dist/types", `${tmp}/types`);
if (existsSync("dist")) renameSync("dist", old);
renameSync(tmp, "dist");
// The old build stays readable a little longer for processes that already started from it.
setTimeout(() => rmSync(old, { recursive: true, force: true }), 0);
