import { posix } from "node:path";
import { parse as parseYaml, type ScalarTag } from "yaml";
import { confine, type StackFs } from "./confine.js";
import { parseDotEnv } from "./dotenv.js";
import { type Dialect, interpolateDeep, isHostVar, lookupIn } from "./interpolate.js";
import type { Violation } from "./violations.js";

/**
 * The stack as one engine will run it: every service of the main file and the
 * files it `include`s, each with the parts it `extends` (from the same file or
 * another), interpolated with the `.env` that engine reads, and each part with
 * the directory its relative paths resolve against in that engine.
 *
 * Parts are kept apart rather than merged: a key in any part reaches the
 * running service, so checking each part is what the merge would give, minus
 * the merge rules the two engines disagree on.
 */
export interface ServicePart {
  service: string;
  /** Empty for the service's own definition, else `extends 'base' from base.yaml`. */
  via: string;
  spec: Record<string, unknown>;
  /** The directory relative paths in this part resolve against, in this dialect. */
  base: string;
}

export interface Resource {
  kind: "volumes" | "networks" | "secrets" | "configs";
  name: string;
  def: unknown;
  base: string;
}

export interface LoadedStack {
  root: string;
  services: Set<string>;
  parts: ServicePart[];
  resources: Resource[];
  problems: Violation[];
}

/**
 * Host names a stack's .env may still set: the command line we pass overrides the
 * COMPOSE_ ones, and the engines act on none of the others from a .env (they only
 * interpolate with them, and the checker treats them as host values anyway).
 */
const DOTENV_OK = new Set([
  "COMPOSE_PROJECT_NAME",
  "COMPOSE_PROFILES",
  "COMPOSE_FILE",
  "COMPOSE_PATH_SEPARATOR",
  "TZ",
  "LANG",
  "LANGUAGE",
  "TERM",
  "USER",
  "LOGNAME",
  "SHELL",
  "PYTHONPATH",
  "PYTHONHOME",
  "VIRTUAL_ENV",
  "LD_LIBRARY_PATH",
]);
const MAX_DEPTH = 8;
/** docker compose fetches git and OCI includes itself: content the checker never sees. */
const REMOTE = /^([a-z][a-z0-9+.-]*:\/\/|git@|[a-z][a-z0-9+.-]*:[^/])/i;

// Compose's own YAML tags: keep the value, so a `!override` cannot hide it from the checker.
const composeTags: ScalarTag[] = ["!reset", "!override"].map((tag) => ({ tag, identify: () => false, resolve: (s: string) => s }));

/** Parsed once per file and shared by both dialects' loads. */
export type ParseCache = Map<string, unknown>;

function parseFile(path: string, fs: StackFs, cache: ParseCache): unknown {
  if (cache.has(path)) return cache.get(path);
  const text = fs.read(path);
  let doc: unknown = null;
  if (text !== undefined) {
    try {
      // `<<` merges as in both engines' parsers. YAML 1.1's `yes`/`on` stay strings here (the
      // 1.1 schema costs a third more time); the rules read any value but a clear "no" as yes.
      doc = parseYaml(text, { merge: true, customTags: composeTags, logLevel: "error" }) ?? {};
    } catch {
      doc = undefined;
    }
  }
  cache.set(path, doc);
  return doc;
}

const isMap = (v: unknown): v is Record<string, unknown> => Boolean(v) && typeof v === "object" && !Array.isArray(v);
const rel = (root: string, p: string) => posix.relative(root, p) || ".";

interface Ctx {
  root: string;
  fs: StackFs;
  dialect: Dialect;
  cache: ParseCache;
  out: LoadedStack;
}

/** Read a `.env` (only from inside the stack), checking the names it sets. */
function readEnv(c: Ctx, dir: string, name: string, rule: "dotenv" | "include"): Map<string, string> {
  const where = confine(c.root, dir, name, c.fs);
  if (!where.inside) {
    c.out.problems.push({ rule, key: rule === "dotenv" ? ".env" : "include", message: `${rel(c.root, posix.join(dir, name))} ${where.why}` });
    return new Map();
  }
  const text = c.fs.read(where.path);
  if (text === undefined) return new Map();
  const env = parseDotEnv(text, c.dialect);
  for (const key of env.keys) {
    if (isHostVar(key) && !DOTENV_OK.has(key) && !key.startsWith("LC_")) {
      c.out.problems.push({ rule: "dotenv", key: ".env", message: `${rel(c.root, where.path)} sets ${key}: a stack may not set the engine's own environment` });
    }
  }
  return env.vars;
}

/** Load a compose file the engine reads, with its includes and its services' extends. */
function loadFile(c: Ctx, file: string, env: Map<string, string>, projectDir: string, depth: number): void {
  const raw = parseFile(file, c.fs, c.cache);
  if (raw === undefined) {
    c.out.problems.push({ rule: "compose_file", key: "compose_file", message: `${rel(c.root, file)} is not YAML the policy can read` });
    return;
  }
  const doc = interpolateDeep(raw, lookupIn(env), c.dialect);
  if (!isMap(doc)) return;
  // docker compose resolves a file's relative paths against its project directory; podman-compose against the main one's.
  const base = projectDir;
  if (c.dialect === "spec") include(c, doc.include, env, projectDir, depth);
  // Pod-wide options (podman-compose's `x-podman: { pod_args }`) reach every container.
  if (doc["x-podman"] !== undefined) c.out.problems.push({ rule: "x-podman", key: "x-podman", message: "podman-compose pod options are not allowed" });
  for (const kind of ["volumes", "networks", "secrets", "configs"] as const) {
    const section = doc[kind];
    if (isMap(section)) for (const [name, def] of Object.entries(section)) c.out.resources.push({ kind, name, def, base });
  }
  const services = doc.services;
  if (!isMap(services)) return;
  for (const [name, svc] of Object.entries(services)) {
    c.out.services.add(name);
    const spec = isMap(svc) ? svc : {};
    c.out.parts.push({ service: name, via: "", spec, base });
    extend(c, name, spec, file, services, env, base, new Set([`${file}#${name}`]));
  }
}

/** Follow `extends` from one service part, adding each ancestor as a part of `service`. */
function extend(
  c: Ctx,
  service: string,
  spec: Record<string, unknown>,
  file: string,
  siblings: Record<string, unknown>,
  env: Map<string, string>,
  base: string,
  seen: Set<string>,
): void {
  const ext = typeof spec.extends === "string" ? { service: spec.extends } : spec.extends;
  if (!isMap(ext) || typeof ext.service !== "string") return;
  let from = file;
  let pool = siblings;
  let fromBase = base;
  if (ext.file !== undefined) {
    if (typeof ext.file !== "string") return;
    if (REMOTE.test(ext.file)) {
      c.out.problems.push({ service, rule: "extends", key: "extends.file", message: `'${ext.file}' is a remote file the policy cannot read` });
      return;
    }
    // docker compose reads extends.file next to the file that names it; podman-compose from its working directory.
    const dir = c.dialect === "spec" ? posix.dirname(file) : base;
    const where = confine(c.root, dir, ext.file, c.fs);
    if (!where.inside) {
      c.out.problems.push({ service, rule: "extends", key: "extends.file", message: `'${ext.file}' ${where.why}` });
      return;
    }
    from = posix.join(dir, ext.file);
    const raw = parseFile(where.path, c.fs, c.cache);
    const doc = interpolateDeep(raw, lookupIn(env), c.dialect);
    pool = isMap(doc) && isMap(doc.services) ? doc.services : isMap(doc) ? doc : {};
    if (c.dialect === "spec") fromBase = posix.dirname(from);
  }
  const key = `${from}#${ext.service}`;
  if (seen.has(key) || seen.size > MAX_DEPTH) return;
  seen.add(key);
  const parent = pool[ext.service];
  if (!isMap(parent)) return;
  const via = `extends '${ext.service}'${from === file ? "" : ` from ${rel(c.root, from)}`}`;
  c.out.parts.push({ service, via, spec: parent, base: fromBase });
  extend(c, service, parent, from, pool, env, fromBase, seen);
}

/** docker compose's top-level `include`: other compose projects merged into this one. */
function include(c: Ctx, list: unknown, parentEnv: Map<string, string>, projectDir: string, depth: number): void {
  if (list === undefined || list === null) return;
  if (depth >= MAX_DEPTH) {
    c.out.problems.push({ rule: "include", key: "include", message: `nested deeper than ${MAX_DEPTH} files` });
    return;
  }
  for (const entry of Array.isArray(list) ? list : [list]) {
    const spec = typeof entry === "string" ? { path: entry } : isMap(entry) ? entry : {};
    const paths = (Array.isArray(spec.path) ? spec.path : [spec.path]).filter((p): p is string => typeof p === "string");
    const files: string[] = [];
    for (const p of paths) {
      if (REMOTE.test(p)) {
        c.out.problems.push({ rule: "include", key: "include", message: `'${p}' is a remote file the policy cannot read` });
        continue;
      }
      const where = confine(c.root, projectDir, p, c.fs);
      if (!where.inside) c.out.problems.push({ rule: "include", key: "include", message: `'${p}' ${where.why}` });
      else files.push(where.path);
    }
    if (!files.length) continue;
    let dir = posix.dirname(files[0] as string);
    if (typeof spec.project_directory === "string") {
      const where = confine(c.root, projectDir, spec.project_directory, c.fs);
      if (!where.inside) {
        c.out.problems.push({ rule: "include", key: "include.project_directory", message: `'${spec.project_directory}' ${where.why}` });
        continue;
      }
      dir = where.path;
    }
    // The included project's .env adds names the parent's environment does not already set.
    const envFiles =
      spec.env_file === undefined
        ? [posix.join(dir, ".env")]
        : (Array.isArray(spec.env_file) ? spec.env_file : [spec.env_file])
            .filter((f): f is string => typeof f === "string")
            .map((f) => posix.join(projectDir, f));
    const env = new Map<string, string>();
    for (const f of envFiles)
      for (const [k, v] of readEnv(c, posix.dirname(f), posix.basename(f), spec.env_file === undefined ? "dotenv" : "include")) env.set(k, v);
    for (const [k, v] of parentEnv) env.set(k, v);
    for (const f of files) loadFile(c, f, env, dir, depth + 1);
  }
}

/**
 * Load the stack whose main compose file is `file` (relative to `root`, the
 * stack's own directory, a real path) as `dialect`'s engine reads it.
 */
export function loadStack(root: string, file: string, fs: StackFs, dialect: Dialect, cache: ParseCache = new Map()): LoadedStack {
  const out: LoadedStack = { root, services: new Set(), parts: [], resources: [], problems: [] };
  const c: Ctx = { root, fs, dialect, cache, out };
  const main = posix.join(root, file);
  const where = confine(root, root, file, fs);
  if (!where.inside) {
    out.problems.push({ rule: "compose_file", key: "compose_file", message: `'${file}' ${where.why}` });
    return out;
  }
  // podman-compose takes the project directory from the file's real path, docker compose from the path given.
  if (posix.dirname(where.path) !== posix.dirname(main)) {
    out.problems.push({
      rule: "compose_file",
      key: "compose_file",
      message: `'${file}' is a symlink into another directory: the engines disagree about its project directory`,
    });
    return out;
  }
  const projectDir = posix.dirname(main);
  const env = readEnv(c, projectDir, ".env", "dotenv");
  loadFile(c, where.path, env, projectDir, 0);
  return out;
}
