/**
 * The input variables a Packer template declares, read from its files on this
 * machine (HCL2 `variable "x" {}` / `variables {}` blocks, `*.pkr.json`),
 * without running Packer: enough to refuse an undeclared `-var` or a required
 * variable nobody sets before any record exists. `packer validate` on the
 * placement host stays the authority during provision.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { SandboxerError } from "../../errors.js";

/** Variable name -> whether it has a default. */
export type DeclaredVars = Map<string, boolean>;

const invalid = (field: string, why: string) => new SandboxerError("SBX_INPUT_INVALID", `input '${field}': ${why}`, { details: { field } });
const TEMPLATE_FILE = /\.pkr\.(hcl|json)$/;

/** The template files of `template` (a directory or one file), or a SBX_INPUT_INVALID naming packer_template. */
export function templateFiles(template: string, shown: string): string[] {
  if (!existsSync(template)) throw invalid("packer_template", `${shown} does not exist on this machine`);
  if (statSync(template).isDirectory()) {
    const files = readdirSync(template)
      .filter((f) => TEMPLATE_FILE.test(f))
      .sort()
      .map((f) => join(template, f));
    if (!files.length) throw invalid("packer_template", `directory ${shown} holds no *.pkr.hcl or *.pkr.json template`);
    return files;
  }
  if (!TEMPLATE_FILE.test(template)) throw invalid("packer_template", `${shown} is not a Packer HCL2 template (*.pkr.hcl or *.pkr.json)`);
  return [template];
}

/** The body between the brace at `open` and its match (strings skipped), or null when unbalanced. */
function blockBody(text: string, open: number): string | null {
  let depth = 0;
  let quoted = false;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === "\\") i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === "{") depth++;
    else if (c === "}" && --depth === 0) return text.slice(open + 1, i);
  }
  return null;
}

/** Top-level `name =` attributes of a block body (nested blocks and values skipped). */
function attributes(body: string): string[] {
  const names: string[] = [];
  let depth = 0;
  for (const line of body.split("\n")) {
    const m = depth === 0 ? /^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=/.exec(line) : null;
    if (m?.[1]) names.push(m[1]);
    for (const c of line.replace(/"(?:\\.|[^"\\])*"/g, "")) depth += c === "{" || c === "[" ? 1 : c === "}" || c === "]" ? -1 : 0;
  }
  return names;
}

export function hclVariables(source: string, into: DeclaredVars = new Map()): DeclaredVars {
  const text = source.replace(/^\s*(#|\/\/).*$/gm, "");
  for (const m of text.matchAll(/(^|\n)\s*variable\s+"([^"]+)"\s*\{/g)) {
    const body = blockBody(text, (m.index ?? 0) + m[0].length - 1);
    into.set(m[2] as string, body !== null && attributes(body).includes("default"));
  }
  for (const m of text.matchAll(/(^|\n)\s*variables\s*\{/g)) {
    for (const name of attributes(blockBody(text, (m.index ?? 0) + m[0].length - 1) ?? "")) into.set(name, true);
  }
  return into;
}

function jsonVariables(source: string, into: DeclaredVars): DeclaredVars {
  const doc = JSON.parse(source) as { variable?: Record<string, { default?: unknown }> };
  for (const [name, spec] of Object.entries(doc.variable ?? {})) into.set(name, spec !== null && typeof spec === "object" && "default" in spec);
  return into;
}

/** Every variable the template's files declare; null when a file cannot be read as a template (validate will say why). */
export function declaredVariables(files: readonly string[]): DeclaredVars | null {
  const vars: DeclaredVars = new Map();
  try {
    for (const f of files) {
      const text = readFileSync(f, "utf8");
      if (f.endsWith(".json")) jsonVariables(text, vars);
      else hclVariables(text, vars);
    }
  } catch {
    return null;
  }
  return vars;
}
