// Bundle the CLI (and the library entry) with esbuild: one parse instead of
// hundreds of module resolutions keeps a cold `sandboxer list` fast.
// Command modules stay separate chunks, loaded only when used.
import { rmSync } from "node:fs";
import { build } from "esbuild";

// Chunk names are content hashes: clear old ones so dist/ holds one build.
rmSync("dist", { recursive: true, force: true });

await build({
  entryPoints: { cli: "src/cli/main.ts", index: "src/index.ts" },
  outdir: "dist",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: true,
  // Vendor SDKs stay in node_modules: loaded at run time only by their extension, never bundled.
  external: ["better-sqlite3", "e2b", "@daytonaio/sdk", "modal"],
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: "warning",
});
