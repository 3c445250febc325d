import { SandboxerError } from "../../errors.js";
import { isSameProcessAlive } from "../../proc.js";
import { shellJoin } from "../../transport/quote.js";
import type { ExtensionContext, SandboxCommandOptions } from "../define.js";
import { SANDBOX_PATH } from "./bwrap.js";
import type { LocalHandle } from "./handle.js";
import { procsFiles } from "./limits/apply.js";
import { confinedArgv } from "./limits/plan.js";

/**
 * The argv that runs `argv` inside a local sandbox: nsenter joins every
 * namespace of its init (so paths, links and /proc are the sandbox's, never
 * the host's), at the init's root and working directory (/workspace), with a
 * clean environment so no host secret leaks in.
 *
 * With `tty`, util-linux `script` on the host allocates a fresh pseudo-terminal
 * for the session (unprivileged sandboxes have no /dev/pts of their own), puts
 * the caller's terminal in raw mode, passes window size changes on and
 * restores the terminal on exit. The sandbox holds only the pty's far end,
 * never the caller's own terminal, so it cannot push input into it.
 */
export function localCommand(
  ctx: Pick<ExtensionContext, "sandbox">,
  h: Pick<LocalHandle, "childPid" | "childStart" | "limits">,
  argv: string[],
  opts: Pick<SandboxCommandOptions, "tty">,
): string[] {
  if (!h.childPid || !isSameProcessAlive(h.childPid, h.childStart ?? null)) {
    throw new SandboxerError("SBX_INVALID_STATE", "the sandbox's init process is gone; run `sandboxer reconcile`");
  }
  const term = opts.tty ? process.env.TERM || "xterm" : process.env.TERM;
  const inner = [
    "nsenter",
    "--target",
    String(h.childPid),
    "--user",
    "--preserve-credentials",
    "--mount",
    "--uts",
    "--ipc",
    "--net",
    "--pid",
    "--cgroup",
    "--root",
    "--wd",
    "--",
    "/usr/bin/env",
    "-i",
    `PATH=${SANDBOX_PATH}`,
    "HOME=/workspace",
    `SANDBOXER_ID=${ctx.sandbox.id}`,
    ...(term ? [`TERM=${term}`] : []),
    ...argv,
  ];
  // Into the sandbox's cgroups and rlimits before nsenter runs (src/extensions/local/limits/).
  const confined = h.limits ?? { cgroups: [], rlimits: [] };
  const full = confinedArgv(procsFiles(confined), confined.rlimits, inner);
  return opts.tty ? ["script", "--quiet", "--return", "--command", shellJoin(full), "/dev/null"] : full;
}
