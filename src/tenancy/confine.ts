/**
 * Input confinement: what a tenant's inputs may resolve to. Each input spec
 * says where its value points (`within`, src/catalog/schema.ts); operators are
 * not confined (a template name still resolves for them). For tenants:
 *
 * - `server` paths only under the roots the operator granted the project,
 *   checked on the real path (symlinks resolved, down to the deepest part that
 *   exists); relative paths start at the project's first root; `~` is refused
 *   (it would be the server user's home).
 * - `template`: a name from `packerTemplates`, never a path.
 * - `vm`: an inventory host or a port-registry VM, never `localhost`.
 * - `sandbox`: kept under the sandbox's own root by its extension; `~` refused.
 * - `operator`: refused.
 *
 * Returns what the extension gets (`inputs`) and what the record keeps
 * (`recorded`: secrets replaced, template names kept as names). Reads the
 * filesystem (realpath) but changes nothing.
 */
import { existsSync, lstatSync, realpathSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import type { InputSpec } from "../catalog/schema.js";
import { SandboxerError } from "../errors.js";
import { type Caller, isOperator } from "./access.js";
import { redactInputs, specOf } from "./secrets.js";

export interface ConfineScope {
  caller: Caller | undefined;
  /** The roots granted to the plan's project (`projects.<name>.roots`), absolute. */
  roots: readonly string[];
  /** `packerTemplates`: name -> path on the placement host. */
  templates: ReadonlyMap<string, string>;
  /** Inventory hosts (localhost excluded) and port-registry VMs. */
  vms: ReadonlySet<string>;
}

export interface Confined {
  inputs: Record<string, string>;
  recorded: Record<string, string>;
}

export type Within = NonNullable<InputSpec["within"]>;

/** The declared `within`, or the safe default: paths are server paths, `vm`/`vm_name` are VMs. */
export function withinOf(name: string, spec: InputSpec | undefined): Within | undefined {
  if (spec?.within) return spec.within;
  if (spec?.type === "path") return "server";
  if (name === "vm" || name === "vm_name") return "vm";
  return undefined;
}

const refuse = (field: string, why: string) => new SandboxerError("SBX_INPUT_INVALID", `input '${field}': ${why}`, { details: { field } });

/**
 * The real path of `p`: symlinks resolved in the deepest part that exists,
 * the rest appended. A dangling symlink on the way cannot be judged: null.
 */
export function realpathDeepest(p: string): string | null {
  let head = resolve(p);
  const tail: string[] = [];
  for (;;) {
    if (existsSync(head)) return join(realpathSync(head), ...tail);
    try {
      lstatSync(head);
      return null; // present but unresolvable: a dangling (or looping) symlink
    } catch {
      // absent: look one level up
    }
    const up = dirname(head);
    if (up === head) return null;
    tail.unshift(head.slice(up.length).replace(/^\//, ""));
    head = up;
  }
}

function inside(path: string, root: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (rel !== ".." && !rel.startsWith("../") && !isAbsolute(rel));
}

/** A server path a tenant gave, checked against the granted roots; returns its real path. */
function confineServerPath(field: string, value: string, base: string | undefined, scope: ConfineScope): string {
  if (value === "~" || value.startsWith("~"))
    throw refuse(field, "'~' is not allowed: on the server it is not your home; give a path under your project's granted roots");
  const project = scope.caller?.project ?? "";
  if (!scope.roots.length)
    throw refuse(
      field,
      `project '${project}' has no server directories granted (the operator sets projects.${project}.roots in the config); paths on the server are refused`,
    );
  const start = base ?? (scope.roots[0] as string);
  const real = realpathDeepest(isAbsolute(value) ? value : join(start, value));
  const roots = scope.roots.map((r) => realpathDeepest(r)).filter((r): r is string => r !== null);
  if (real === null || !roots.some((r) => inside(real, r))) {
    throw refuse(field, `resolves outside the directories granted to project '${project}' (symlinks are followed)`);
  }
  return real;
}

export function confineInputs(specs: Record<string, InputSpec>, given: Record<string, string>, scope: ConfineScope): Confined {
  const inputs = { ...given };
  const names: Record<string, string> = {};
  const operator = isOperator(scope.caller);
  // Inputs relative to another input go last, so their base is already confined.
  const order = Object.keys(given).sort((a, b) => Number(Boolean(specOf(specs, a)?.relativeTo)) - Number(Boolean(specOf(specs, b)?.relativeTo)));
  for (const key of order) {
    const value = given[key] as string;
    const spec = specOf(specs, key);
    const within = withinOf(key, spec);
    if (within === "template") {
      const path = scope.templates.get(value);
      if (path !== undefined) {
        inputs[key] = path;
        names[key] = value;
        continue;
      }
      if (operator) continue;
      const known = [...scope.templates.keys()];
      throw refuse(
        key,
        known.length
          ? `name one of the operator's Packer templates (${known.join(", ")}); paths are for operators`
          : "no Packer templates are offered to tenants (packerTemplates in the config); paths are for operators",
      );
    }
    if (operator || within === undefined) continue;
    if (within === "operator") throw refuse(key, "only operators (adm) may set this input");
    if (within === "vm") {
      if (!scope.vms.has(value)) throw refuse(key, `'${value}' is not a host of the inventory or a VM of the port registry`);
      continue;
    }
    if (within === "sandbox") {
      if (value.startsWith("~")) throw refuse(key, "'~' is not allowed: give a path inside the sandbox");
      continue;
    }
    const baseKey = spec?.relativeTo;
    const base = baseKey !== undefined && given[baseKey] !== undefined ? inputs[baseKey] : undefined;
    const real = confineServerPath(key, value, base, scope);
    // Relative to another input: the extension joins it itself (and checks it stays inside); the value stays relative.
    if (base === undefined || isAbsolute(value)) inputs[key] = real;
  }
  return { inputs, recorded: { ...redactInputs(specs, inputs), ...names } };
}
