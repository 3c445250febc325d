/**
 * Static assets: our stylesheet and script (src/ui/assets/) and htmx from
 * node_modules. Nothing is fetched from a CDN or downloaded at build time.
 * URLs carry a content hash (`?v=`), so browsers may cache them for a year.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface Asset {
  body: Buffer;
  type: string;
  hash: string;
}

/** The package root: found by walking up, so it works from src/ (tsx) and from the dist/ bundle alike. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "sand-boxer") return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error("sand-boxer package root not found (needed for the dashboard's assets)");
    dir = up;
  }
}

const TYPES: Record<string, string> = { css: "text/css; charset=utf-8", js: "text/javascript; charset=utf-8" };

let loaded: Map<string, Asset> | undefined;

export function assets(): Map<string, Asset> {
  if (loaded) return loaded;
  const root = packageRoot();
  const files: Record<string, string> = {
    "app.css": join(root, "src", "ui", "assets", "app.css"),
    "app.js": join(root, "src", "ui", "assets", "app.js"),
    "htmx.min.js": createRequire(join(root, "package.json")).resolve("htmx.org/dist/htmx.min.js"),
  };
  const m = new Map<string, Asset>();
  for (const [name, file] of Object.entries(files)) {
    const body = readFileSync(file);
    m.set(name, {
      body,
      type: TYPES[name.split(".").pop() ?? ""] ?? "application/octet-stream",
      hash: createHash("sha256").update(body).digest("hex").slice(0, 12),
    });
  }
  loaded = m;
  return m;
}

/** `/ui/assets/app.css?v=<hash>` */
export function assetUrl(name: string): string {
  const a = assets().get(name);
  return `/ui/assets/${name}${a ? `?v=${a.hash}` : ""}`;
}
