/**
 * `exec --timeout` on a vendor: the command runs as its own process group
 * with its pid in a file inside the sandbox (sandbox-shell/group.ts); when
 * the time passes, a second exec kills that whole group, so nothing it
 * started is left running, and the answer is exit 124 with `timedOut`.
 */
import { DEFAULT_SCRATCH, groupKillArgv, groupName, groupRunArgv } from "../../sandbox-shell/group.js";
import type { ExecIo, ExecOptions, ExecResult, ExtensionContext } from "../define.js";
import { TIMEOUT_EXIT } from "../exec-process.js";

type Run<H> = (ctx: ExtensionContext<H>, h: H, argv: string[], opts?: ExecOptions, io?: ExecIo) => Promise<ExecResult>;

export async function timedExec<H>(run: Run<H>, ctx: ExtensionContext<H>, h: H, argv: string[], io: ExecIo, opts: ExecOptions): Promise<ExecResult> {
  const { timeoutMs, ...rest } = opts;
  const name = groupName("exec");
  let timedOut = false;
  let killing: Promise<unknown> = Promise.resolve();
  const timer = setTimeout(() => {
    timedOut = true;
    killing = run(ctx, h, groupKillArgv(DEFAULT_SCRATCH, name, "KILL")).catch(() => undefined);
  }, timeoutMs);
  try {
    const r = await run(ctx, h, groupRunArgv(DEFAULT_SCRATCH, name, argv), rest, io);
    return timedOut ? { ...r, exitCode: TIMEOUT_EXIT, timedOut: true } : r;
  } finally {
    clearTimeout(timer);
    await killing;
    // The pid file is the group's name while it runs; gone with it.
    await run(ctx, h, ["rm", "-f", "--", `${DEFAULT_SCRATCH}/${name}`]).catch(() => undefined);
  }
}
