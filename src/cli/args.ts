import { type ParseArgsConfig, parseArgs } from "node:util";
import { SandboxerError } from "../errors.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

export const JSON_FLAG = { json: { type: "boolean" } } as const satisfies Options;

/**
 * `--help` on a command: thrown by `parse` before the command does anything,
 * carrying the command's own flag table (so help and completion list exactly
 * the flags the command accepts) and what was parsed (`create --profile P --help`).
 */
export class HelpRequest extends Error {
  constructor(
    readonly usage: string,
    readonly options: Options,
    readonly values: Record<string, unknown>,
    readonly positionals: string[],
  ) {
    super("help requested");
    this.name = "HelpRequest";
  }
}

/** parseArgs that reports unknown flags and missing values as SBX_USAGE (exit 2); `--help` throws a HelpRequest. */
export function parse<O extends Options>(argv: string[], options: O, usage: string) {
  const all = { ...JSON_FLAG, help: { type: "boolean", short: "h" }, ...options } as const;
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof all; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: argv, options: all, allowPositionals: true, strict: true });
  } catch (err) {
    // A half-typed command line still gets its help.
    if (argv.includes("--help") || argv.includes("-h")) throw new HelpRequest(usage, all, {}, []);
    throw new SandboxerError("SBX_USAGE", `${(err as Error).message.replace(/\. To specify a positional.*$/s, "")}\nusage: ${usage}`);
  }
  if ((parsed.values as { help?: boolean }).help) throw new HelpRequest(usage, all, parsed.values as Record<string, unknown>, parsed.positionals);
  return parsed;
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
