/**
 * `exec --timeout`, or a caller that goes away (`signal`), where exec is an API
 * call (vendors, a cluster's pods/exec) rather than a local command: the
 * command runs as its own process group with its pid in a file inside the
 * sandbox (sandbox-shell/group.ts); when the time passes or the signal aborts,
 * a second exec kills that whole group, so nothing it started is left
 * running, and the answer is exit 124 with `timedOut` or 130 with `cancelled`.
 */
import { DEFAULT_SCRATCH, groupExecArgv, groupKillArgv, groupName } from "../sandbox-shell/group.js";
import type { ExecIo, ExecOptions, ExecResult, ExtensionContext } from "./define.js";
import { killUntilEnded, stoppedResult, watchStop } from "./exec-stop.js";

type Run<H> = (ctx: ExtensionContext<H>, h: H, argv: string[], opts?: ExecOptions, io?: ExecIo) => Promise<ExecResult>;

export async function timedExec<H>(run: Run<H>, ctx: ExtensionContext<H>, h: H, argv: string[], io: ExecIo, opts: ExecOptions): Promise<ExecResult> {
  // The vendor's own exec sees neither trigger: it must end with the group, not be abandoned.
  const { timeoutMs, signal, ...rest } = opts;
  const name = groupName("exec");
  const running = run(ctx, h, groupExecArgv(DEFAULT_SCRATCH, name, argv), rest, io);
  let killing: Promise<unknown> = Promise.resolve();
  const kill = () => run(ctx, h, groupKillArgv(DEFAULT_SCRATCH, name, "KILL"));
  const watch = watchStop({ timeoutMs, signal }, () => {
    killing = killUntilEnded(kill, running);
  });
  let ended = false;
  try {
    const r = stoppedResult(await running, watch.reason);
    ended = !watch.reason;
    return r;
  } finally {
    watch.clear();
    await killing;
    // A command that ended by itself removed its pid file (no second round trip); a killed group, or a lost exec, may have left it.
    if (!ended) await run(ctx, h, ["rm", "-f", "--", `${DEFAULT_SCRATCH}/${name}`]).catch(() => undefined);
  }
}
