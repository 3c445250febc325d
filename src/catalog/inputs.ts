import { posix } from "node:path";
import { SandboxerError } from "../errors.js";
import type { InputSpec } from "./schema.js";

const PACKER_VAR = "packer_var_";

/** Is the input `name` (declared by `spec`, possibly a prefix family) secret? (`secret: true`, and every `packer_var_*`; see src/tenancy/secrets.ts) */
export function isSecretInput(name: string, spec: Pick<InputSpec, "secret"> | undefined): boolean {
  if (spec?.secret) return true;
  return name.startsWith(PACKER_VAR) && name.length > PACKER_VAR.length && name !== "packer_var_file";
}

/**
 * Typed input checks. Values arrive as strings (`--input k=v`, JSON bodies).
 * Every type refuses control characters and shell metacharacters: quoting is
 * still done everywhere, this is the second fence, and it makes bad input fail
 * at plan time with exit 2 instead of somewhere deep in a remote command.
 */
export const MAX_INPUT_LENGTH = 1024;
export const MAX_PATH_LENGTH = 4096;
const NAME_RE = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const CONTROL_RE = /[\u0000-\u001f\u007f]/;
const SHELL_META_RE = /[`$;|&<>(){}*?!"'\\[\]#]/;
const KEY_RE = /^[a-z][a-z0-9_]{0,63}$/;

function invalid(field: string, why: string): SandboxerError {
  return new SandboxerError("SBX_INPUT_INVALID", `input '${field}': ${why}`, { details: { field } });
}

function checkText(field: string, value: string, max: number): void {
  if (value.length > max) throw invalid(field, `longer than ${max} characters`);
  if (CONTROL_RE.test(value)) throw invalid(field, "contains a control character (newline, tab, NUL...)");
  if (SHELL_META_RE.test(value)) throw invalid(field, "contains a shell metacharacter ($ ` ; | & < > ( ) { } * ? ! quotes \\ [ ] #)");
}

/** Normalise a path input; refuse `..` segments so it can never climb out of the root it is joined to. */
export function normalisePathInput(field: string, value: string): string {
  checkText(field, value, MAX_PATH_LENGTH);
  if (value === "") throw invalid(field, "is empty");
  if (value.split("/").includes("..")) throw invalid(field, "must not contain '..' segments");
  const norm = posix.normalize(value);
  return norm.length > 1 && norm.endsWith("/") ? norm.slice(0, -1) : norm;
}

export function checkInputKey(key: string): void {
  if (!KEY_RE.test(key)) {
    throw new SandboxerError("SBX_USAGE", `input name '${key.slice(0, 64)}' must match ${KEY_RE.source}`, { details: { field: key.slice(0, 64) } });
  }
}

/** Validate and normalise one value against its declared spec. Returns the value to store. */
export function checkInputValue(field: string, spec: InputSpec, value: string): string {
  switch (spec.type) {
    case "name":
      if (!NAME_RE.test(value)) throw invalid(field, "must be a name: lowercase letters, digits, '_', '.', '-' (at most 63)");
      return value;
    case "path":
      return normalisePathInput(field, value);
    case "int": {
      if (!/^-?\d{1,15}$/.test(value)) throw invalid(field, "must be an integer");
      const n = Number(value);
      if (spec.min !== undefined && n < spec.min) throw invalid(field, `must be >= ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) throw invalid(field, `must be <= ${spec.max}`);
      return String(n);
    }
    case "bool":
      if (!["true", "false"].includes(value)) throw invalid(field, "must be true or false");
      return value;
    case "enum":
      if (!spec.values?.includes(value)) throw invalid(field, `must be one of: ${(spec.values ?? []).join(", ")}`);
      return value;
    case "string":
      // A secret never reaches a command line (it travels in a 0600 file), so only the length and control-character fences apply.
      if (isSecretInput(field, spec)) {
        if (value.length > (spec.maxLength ?? MAX_INPUT_LENGTH)) throw invalid(field, `longer than ${spec.maxLength ?? MAX_INPUT_LENGTH} characters`);
        if (CONTROL_RE.test(value)) throw invalid(field, "contains a control character (newline, tab, NUL...)");
        if (spec.pattern && !new RegExp(spec.pattern).test(value)) throw invalid(field, `must match ${spec.pattern}`);
        return value;
      }
      checkText(field, value, spec.maxLength ?? MAX_INPUT_LENGTH);
      if (spec.pattern && !new RegExp(spec.pattern).test(value)) throw invalid(field, `must match ${spec.pattern}`);
      return value;
  }
}

/**
 * Merge profile defaults with what the caller gave: unknown names and missing
 * required inputs are errors; aliases map to their canonical name.
 */
export function resolveInputs(specs: Record<string, InputSpec>, given: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  const aliasOf = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) for (const a of spec.aliases ?? []) aliasOf.set(a, name);
  for (const [rawKey, value] of Object.entries(given)) {
    checkInputKey(rawKey);
    const key = aliasOf.get(rawKey) ?? rawKey;
    const spec = specs[key] ?? prefixSpec(specs, key);
    if (!spec || (spec.prefix && key in specs)) {
      const known = Object.entries(specs).map(([n, sp]) => (sp.prefix ? `${n}<name>` : n));
      throw new SandboxerError(
        "SBX_INPUT_UNKNOWN",
        `input '${rawKey}' is not declared by the profile${known.length ? ` (known: ${known.join(", ")})` : " (it takes no inputs)"}`,
        { details: { field: rawKey } },
      );
    }
    if (key in out && out[key] !== value) throw invalid(key, `given twice (also as an alias) with different values`);
    out[key] = checkInputValue(key, spec, value);
  }
  for (const [name, spec] of Object.entries(specs)) {
    if (name in out || spec.prefix) continue;
    if (spec.default !== undefined) out[name] = checkInputValue(name, spec, String(spec.default));
    else if (spec.required) {
      throw new SandboxerError("SBX_INPUT_MISSING", `input '${name}' is required${spec.description ? `: ${spec.description}` : ""}`, {
        details: { field: name },
      });
    }
  }
  return out;
}

/** The family spec (`prefix: true`) whose name starts `key`, when `key` adds a non-empty suffix to it. */
function prefixSpec(specs: Record<string, InputSpec>, key: string): InputSpec | undefined {
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.prefix && key.length > name.length && key.startsWith(name)) return spec;
  }
  return undefined;
}
