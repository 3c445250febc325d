import { SandboxerError } from "../../errors.js";
import { noExtraPositionals, parse, requirePositional } from "../args.js";
import type { CliContext } from "../context.js";
import { fieldRows } from "../fields.js";

const USAGE = "sandboxer reachability show ID [--json]";

/**
 * How to reach a sandbox, from its record only (read-only: nothing is started).
 * Multi-line fields such as a VM's ops-bridge `tunnel` snippet print verbatim.
 */
export async function reachability(cx: CliContext, argv: string[]): Promise<number> {
  const { positionals } = parse(argv, {}, USAGE);
  if (positionals[0] !== "show") throw new SandboxerError("SBX_USAGE", `unknown subcommand '${(positionals[0] ?? "").slice(0, 20)}'\nusage: ${USAGE}`);
  noExtraPositionals(positionals, 2, USAGE);
  const sb = await cx.reader().get(requirePositional(positionals, 1, "ID", USAGE));
  if (cx.out.json) {
    cx.out.data({ id: sb.id, state: sb.state, extension: sb.extension, mode: sb.mode, reachability: sb.reachability });
    return 0;
  }
  if (!sb.reachability) {
    cx.out.print(`${sb.id}  ${sb.state}: no reachability (only ready sandboxes have one)`);
    return 0;
  }
  // Multi-line text (a tunnel snippet) goes last and verbatim, ready to copy; structures render as tables.
  const blocks = Object.entries(sb.reachability).filter((e): e is [string, string] => typeof e[1] === "string" && e[1].includes("\n"));
  const lines = [
    `${sb.id}  ${sb.state}  ${sb.extension}${sb.mode ? ` (${sb.mode})` : ""}`,
    ...fieldRows(sb.reachability, 10, { skip: blocks.map(([k]) => k) }),
  ];
  for (const [k, text] of blocks) lines.push("", `${k}:`, text);
  cx.out.print(lines.join("\n"));
  return 0;
}
