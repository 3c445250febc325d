/**
 * Extensions from outside the repository: a registration's `module:` names a
 * path (a file, or a package directory) or a package name, found the way Node
 * finds packages: `node_modules/<name>` beside the registration file or in a
 * directory above it, else beside sand-boxer itself. Its default export is an
 * extension definition, checked like the built-in ones.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { SandboxerError } from "../errors.js";
import { expandHome, PACKAGE_ROOT } from "../paths.js";

const PACKAGE_NAME_RE = /^(@[a-z0-9][a-z0-9._-]*\/)?[a-z0-9][a-z0-9._-]*$/;

const invalid = (id: string, message: string, cause?: unknown) =>
  new SandboxerError("SBX_EXTENSION_INVALID", `extension ${id}: ${message}`, { details: { extension: id, field: "module" }, ...(cause ? { cause } : {}) });

/** The file a package directory's package.json points at for `import` (exports ".", then main, then index.js). */
function packageEntry(id: string, dir: string): string {
  const file = join(dir, "package.json");
  if (!existsSync(file)) return join(dir, "index.js");
  let pkg: { exports?: unknown; main?: unknown };
  try {
    pkg = JSON.parse(readFileSync(file, "utf8")) as typeof pkg;
  } catch (err) {
    throw invalid(id, `${file} is not valid JSON`, err);
  }
  const pick = (v: unknown): string | undefined => {
    if (typeof v === "string") return v;
    if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
    const o = v as Record<string, unknown>;
    return pick(o["."]) ?? pick(o.import) ?? pick(o.node) ?? pick(o.default);
  };
  const entry = pick(pkg.exports) ?? (typeof pkg.main === "string" ? pkg.main : undefined) ?? "index.js";
  return resolve(dir, entry);
}

/** The absolute file a `module:` value names, seen from the registration file. */
export function resolveModule(id: string, spec: string, registrationFile: string): string {
  const base = dirname(registrationFile);
  let target: string;
  if (spec.startsWith(".") || isAbsolute(spec) || spec.startsWith("~/")) {
    target = resolve(base, expandHome(spec));
    if (!existsSync(target)) throw invalid(id, `module '${spec}': ${target} does not exist`);
  } else {
    if (!PACKAGE_NAME_RE.test(spec)) throw invalid(id, `module '${spec}' is neither a path (./x, /x) nor a package name`);
    const dirs: string[] = [];
    for (let d = base; ; d = dirname(d)) {
      dirs.push(join(d, "node_modules", spec));
      if (dirname(d) === d) break;
    }
    dirs.push(join(PACKAGE_ROOT, "node_modules", spec));
    const found = dirs.find((d) => existsSync(d));
    if (!found) throw invalid(id, `module '${spec}' is not installed (no node_modules/${spec} from ${base} upward)`);
    target = found;
  }
  return statSync(target).isDirectory() ? packageEntry(id, target) : target;
}

/** Import the module's default export (not yet checked). */
export async function importModule(id: string, spec: string, file: string): Promise<unknown> {
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (err) {
    throw invalid(id, `module '${spec}' (${file}) failed to load: ${(err as Error).message}`, err);
  }
  if (mod.default === undefined) throw invalid(id, `module '${spec}' has no default export (export default defineExtension({...}))`);
  return mod.default;
}
