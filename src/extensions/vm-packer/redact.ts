/**
 * `packer_var_*` values are secrets (src/tenancy/secrets.ts: every one is):
 * they stay off argv (./var-file.ts), records and events. Packer itself
 * can still print them: a provisioner that echoes a variable, or a diagnostic
 * that quotes the var-file line it rejects (`1: token = "..."`). Every line
 * Packer writes passes through this mask before it reaches the build log,
 * `sandbox.progress` events or the record's error message.
 *
 * Each value is masked as given, as Packer's machine-readable stream encodes
 * it (`,` -> `%!(PACKER_COMMA)`, newline -> `\n`) and as an HCL string body
 * (escaped quotes and backslashes). Values shorter than MIN_SECRET characters
 * cannot be told from ordinary output and are not searched for; snippet lines
 * of the generated var file are masked whatever their length.
 */
export const MASK = "(secret)";
/** Shorter values (a `cpus=4`) would mask ordinary output. */
export const MIN_SECRET = 4;
/** The var file the build writes with the values (build.ts, ./var-file.ts). */
const VAR_FILE_NAME = "vars.pkrvars.hcl";

const PACKER_VAR_PREFIX = "packer_var_";

/** The `packer_var_<name>` values of a build's inputs. */
export function packerVarValues(inputs: Record<string, unknown>): string[] {
  return Object.entries(inputs)
    .filter(([k, v]) => k.startsWith(PACKER_VAR_PREFIX) && k !== "packer_var_file" && k.length > PACKER_VAR_PREFIX.length && typeof v === "string")
    .map(([, v]) => v as string);
}

const machineReadable = (s: string) => s.replaceAll(",", "%!(PACKER_COMMA)").replaceAll("\r", "\\r").replaceAll("\n", "\\n");
const hclBody = (s: string) =>
  s
    .replaceAll("\\", "\\\\")
    .replaceAll('"', '\\"')
    .replaceAll("\n", "\\n")
    .replaceAll("\r", "\\r")
    .replaceAll("\t", "\\t")
    .replace(/([$%])\{/g, "$1$1{");

/** A function that masks every secret form in a line of Packer output. */
export function secretMask(values: string[]): (line: string) => string {
  const forms = new Set<string>();
  for (const v of values) {
    const parts = [v, ...v.split(/\r?\n/)].filter((p) => p.trim().length >= MIN_SECRET);
    for (const p of parts) for (const f of [p, machineReadable(p), hclBody(p), machineReadable(hclBody(p))]) forms.add(f);
  }
  const ordered = [...forms].sort((a, b) => b.length - a.length);
  // `on .../vars.pkrvars.hcl line N:` then the quoted source line `   N: name = value` (literal \n in machine-readable lines).
  const snippet = new RegExp(`(${VAR_FILE_NAME.replaceAll(".", "\\.")} line \\d+[^\\n]*?(?:\\\\n|\\n)\\s*\\d+: [A-Za-z_][\\w-]* = )(.*?)(?=\\\\n|\\n|$)`, "g");
  return (line) => {
    let out = line;
    for (const f of ordered) if (out.includes(f)) out = out.split(f).join(MASK);
    return out.includes(VAR_FILE_NAME) ? out.replace(snippet, `$1${MASK}`) : out;
  };
}
