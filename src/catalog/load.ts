import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import type { Paths } from "../config.js";
import { BUILTIN_EXTENSIONS, loadExtension } from "../extensions/index.js";
import { toSandboxerError } from "../errors.js";
import { type LimitCap, resolveLimits } from "./limits.js";
import { type Diagnostic, type Profile, profileSchema, type Registration, registrationSchema } from "./schema.js";

export interface Catalog {
  profiles: Map<string, Profile>;
  registrations: Map<string, Registration>;
  errors: Diagnostic[];
  warnings: Diagnostic[];
}

function yamlFiles(dir: string | undefined): string[] {
  if (!dir || !existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml") || f.endsWith(".yml"))
    .sort()
    .map((f) => join(dir, f));
}

function parseFile<T extends z.ZodType>(file: string, schema: T, diags: Diagnostic[]): z.infer<T> | undefined {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, "utf8"));
  } catch (err) {
    diags.push({ file, field: "(yaml)", message: (err as Error).message.split("\n")[0] ?? "unparseable" });
    return undefined;
  }
  const res = schema.safeParse(raw);
  if (!res.success) {
    for (const issue of res.error.issues) diags.push({ file, field: issue.path.join(".") || "(root)", message: issue.message });
    return undefined;
  }
  return res.data;
}

/** Load every profile and registration; return all problems at once, never throw on content. */
export async function loadCatalog(paths: Paths): Promise<Catalog> {
  const errors: Diagnostic[] = [];
  const warnings: Diagnostic[] = [];
  const registrations = new Map<string, Registration>();
  // An operator's directory comes last: its registration of an id replaces the built-in one.
  for (const file of [...yamlFiles(paths.builtinExtensions), ...yamlFiles(paths.extraExtensions)]) {
    const reg = parseFile(file, registrationSchema, errors);
    if (!reg) continue;
    if (!reg.module && !BUILTIN_EXTENSIONS.includes(reg.id)) {
      warnings.push({ file, field: "id", message: `no extension '${reg.id}' in this build and no module: to load it from; registration ignored` });
      continue;
    }
    if (reg.module) {
      // Loaded now, so a module that does not load or contradicts itself is a catalog error, never a failed create.
      try {
        await loadExtension(reg.id, { module: reg.module, file });
      } catch (err) {
        errors.push({ file, field: "module", message: toSandboxerError(err).message });
        continue;
      }
    }
    registrations.set(reg.id, { ...reg, file });
  }
  const profiles = new Map<string, Profile>();
  const files = [...yamlFiles(paths.builtinProfiles), ...yamlFiles(paths.extraProfiles)];
  for (const file of files) {
    const p = parseFile(file, profileSchema, errors);
    if (!p) continue;
    if (basename(file).replace(/\.ya?ml$/, "") !== p.id) {
      warnings.push({ file, field: "id", message: `file name does not match id '${p.id}'` });
    }
    const before = errors.length;
    await checkProfileExtensions({ ...p, file }, registrations, errors);
    const limits = await limitsOf({ ...p, file }, registrations, errors, warnings);
    if (errors.length === before) profiles.set(p.id, { ...p, limits, file });
  }
  return { profiles, registrations, errors, warnings };
}

/** The fields of an object schema (zod's `shape`), or null for other schemas. */
function shapeOf(schema: z.ZodType): Record<string, z.ZodType> | null {
  const shape: unknown = "shape" in schema ? schema.shape : undefined;
  return typeof shape === "object" && shape !== null ? (shape as Record<string, z.ZodType>) : null;
}

/** A profile's extensions must exist, and each must accept the profile's inputs and defaults. */
async function checkProfileExtensions(p: Profile, regs: Map<string, Registration>, errors: Diagnostic[]): Promise<void> {
  const ids = p.extension ? [p.extension] : (p.route?.candidates ?? []);
  for (const id of ids) {
    const field = p.extension ? "extension" : "route.candidates";
    const reg = regs.get(id);
    if (!reg) {
      errors.push({ file: p.file, field, message: `unknown extension '${id}'` });
      continue;
    }
    const ext = await loadExtension(id, reg);
    for (const problem of ext.settingsProblems?.(p.settings) ?? []) errors.push({ file: p.file, ...problem });
    if (p.mode !== undefined && !ext.modes?.includes(p.mode)) {
      errors.push({
        file: p.file,
        field: "mode",
        message: ext.modes ? `${id} has no mode '${p.mode}' (modes: ${ext.modes.join(", ")})` : `${id} has no modes`,
      });
    }
    const shape = shapeOf(ext.inputs);
    if (!shape) continue;
    for (const [name, spec] of Object.entries(p.inputs)) {
      const accepts = shape[name];
      if (!accepts) {
        errors.push({ file: p.file, field: `inputs.${name}`, message: `${id} does not take input '${name}'` });
        continue;
      }
      if (spec.default !== undefined && !accepts.safeParse(String(spec.default)).success) {
        errors.push({ file: p.file, field: `inputs.${name}.default`, message: `default rejected by ${id}` });
      }
    }
  }
}

/**
 * The limits a profile's sandboxes get: defaults filled and the registrations'
 * caps applied, for profiles whose extensions enforce limits. Limits written
 * in a profile whose extensions do not enforce them are kept, with a warning.
 */
async function limitsOf(p: Profile, regs: Map<string, Registration>, errors: Diagnostic[], warnings: Diagnostic[]): Promise<Profile["limits"]> {
  const ids = (p.extension ? [p.extension] : (p.route?.candidates ?? [])).filter((id) => regs.has(id));
  const caps: LimitCap[] = [];
  for (const id of ids) {
    const reg = regs.get(id) as Registration;
    if (!(await loadExtension(id, reg)).capabilities.limits) continue;
    caps.push({ extension: id, file: reg.file, limits: reg.limits });
  }
  if (!caps.length) {
    if (Object.keys(p.limits).length)
      warnings.push({ file: p.file, field: "limits", message: `not enforced: none of ${ids.join(", ")} enforces resource limits` });
    return p.limits;
  }
  const { limits, errors: over } = resolveLimits(p.limits, caps);
  for (const e of over) errors.push({ file: p.file, ...e });
  return limits;
}
