/**
 * `exec --timeout`, or a caller that goes away (`signal`), where exec is an API
 * call (vendors, a cluster's pods/exec) rather than a local command: the
 * command runs as its own process group, marked in its environment
 * (sandbox-shell/group.ts); when the time passes or the signal aborts,
 * a second exec kills that whole group, so nothing it started is left
 * running, and the answer is exit 124 with `timedOut` or 130 with `cancelled`.
 */
import { execMark, groupExecArgv, groupExecKillArgv } from "../sandbox-shell/group.js";
import type { ExecIo, ExecOptions, ExecResult, ExtensionContext } from "./define.js";
import { killUntilEnded, stoppedResult, watchStop } from "./exec-stop.js";

type Run<H> = (ctx: ExtensionContext<H>, h: H, argv: string[], opts?: ExecOptions, io?: ExecIo) => Promise<ExecResult>;

export async function timedExec<H>(run: Run<H>, ctx: ExtensionContext<H>, h: H, argv: string[], io: ExecIo, opts: ExecOptions): Promise<ExecResult> {
  // The vendor's own exec sees neither trigger: it must end with the group, not be abandoned.
  const { timeoutMs, signal, ...rest } = opts;
  const mark = execMark();
  const running = run(ctx, h, groupExecArgv(mark, argv), rest, io);
  let killing: Promise<unknown> = Promise.resolve();
  const kill = () => run(ctx, h, groupExecKillArgv(mark, "KILL"));
  const watch = watchStop({ timeoutMs, signal }, () => {
    killing = killUntilEnded(kill, running);
  });
  try {
    return stoppedResult(await running, watch.reason);
  } finally {
    watch.clear();
    await killing;
  }
}
