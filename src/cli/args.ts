import { type ParseArgsConfig, parseArgs } from "node:util";
import { SandboxerError } from "../errors.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

export const JSON_FLAG = { json: { type: "boolean" } } as const satisfies Options;

/** parseArgs that reports unknown flags and missing values as SBX_USAGE (exit 2). */
export function parse<O extends Options>(argv: string[], options: O, usage: string) {
  try {
    return parseArgs({ args: argv, options: { ...JSON_FLAG, help: { type: "boolean", short: "h" }, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new SandboxerError("SBX_USAGE", `${(err as Error).message.replace(/\. To specify a positional.*$/s, "")}\nusage: ${usage}`);
  }
}

export function requirePositional(positionals: string[], index: number, name: string, usage: string): string {
  const v = positionals[index];
  if (v === undefined || v === "") throw new SandboxerError("SBX_USAGE", `missing ${name}\nusage: ${usage}`, { details: { field: name } });
  return v;
}

export function noExtraPositionals(positionals: string[], max: number, usage: string): void {
  if (positionals.length > max) throw new SandboxerError("SBX_USAGE", `unexpected argument '${positionals[max]}'\nusage: ${usage}`);
}

/** `--input k=v` pairs into a map; a malformed pair names itself. */
export function parseInputs(pairs: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const eq = pair.indexOf("=");
    if (eq <= 0) {
      throw new SandboxerError("SBX_USAGE", `--input '${pair.slice(0, 64)}' must be NAME=VALUE`, { details: { field: "input" } });
    }
    const key = pair.slice(0, eq);
    if (key in out) throw new SandboxerError("SBX_USAGE", `--input ${key} given twice`, { details: { field: key } });
    out[key] = pair.slice(eq + 1);
  }
  return out;
}

/** Split `exec ID -- CMD...` at the first `--` so the command's own flags are not ours. */
export function splitDoubleDash(argv: string[]): [string[], string[] | null] {
  const i = argv.indexOf("--");
  return i < 0 ? [argv, null] : [argv.slice(0, i), argv.slice(i + 1)];
}
