import { SandboxerError } from "../../errors.js";
import { noExtraPositionals, parse } from "../args.js";
import { completionScript } from "../complete.js";
import type { CliContext } from "../context.js";

const USAGE = "sandboxer completion bash|zsh|fish";

/** `completion SHELL`: the script that completes commands, flags, profile and sandbox ids. */
export async function completion(cx: CliContext, argv: string[]): Promise<number> {
  const { positionals } = parse(argv, {}, USAGE);
  noExtraPositionals(positionals, 1, USAGE);
  const shell = positionals[0] ?? "";
  const text = completionScript(shell);
  if (text === null)
    throw new SandboxerError("SBX_USAGE", `completion: '${shell.slice(0, 20)}' is not bash, zsh or fish\nusage: ${USAGE}`, { details: { field: "shell" } });
  cx.out.print(text);
  return 0;
}
