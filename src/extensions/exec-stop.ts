/**
 * The two reasons an exec is stopped before it ends by itself: its
 * `timeoutMs` passed, or its `signal` aborted (the caller went away: an HTTP
 * client disconnected, an MCP client cancelled). Both take the same path:
 * the command's whole process group inside the sandbox is killed (a second
 * command over `sandboxCommand`, or a second vendor exec), and the result says
 * which trigger fired. Used by spawnExec (self-hosted) and timedExec (vendors).
 */
import type { ExecResult } from "./io-types.js";

/** Exit code reported for a command stopped by its timeout, as coreutils `timeout` does. */
export const TIMEOUT_EXIT = 124;
/** Exit code reported for a command stopped because its caller went away: 128 + SIGINT, as a shell reports Ctrl-C. */
export const CANCEL_EXIT = 130;

export type StopReason = "timeout" | "cancel";

export interface StopWatch {
  /** The trigger that fired first, if any. */
  readonly reason: StopReason | undefined;
  /** Stop watching (the command ended). */
  clear(): void;
}

/**
 * Call `stop` once, on whichever trigger fires first. A signal already
 * aborted fires at once (the caller left before the command started).
 */
export function watchStop(opts: { timeoutMs?: number | undefined; signal?: AbortSignal | undefined }, stop: (why: StopReason) => void): StopWatch {
  let reason: StopReason | undefined;
  const fire = (why: StopReason) => {
    if (reason) return;
    reason = why;
    stop(why);
  };
  const timer = opts.timeoutMs !== undefined ? setTimeout(() => fire("timeout"), opts.timeoutMs) : undefined;
  const onAbort = () => fire("cancel");
  const signal = opts.signal;
  if (signal?.aborted) onAbort();
  else signal?.addEventListener("abort", onAbort, { once: true });
  return {
    get reason() {
      return reason;
    },
    clear() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    },
  };
}

/** How long to wait for the command to end after a kill before killing again. */
const RETRY_MS = 500;
/** Kills tried before giving up (the caller then falls back to what it holds locally). */
const TRIES = 10;

/**
 * Kill the command's group until it has ended: a kill that comes before the
 * wrapper wrote its pid file finds no group (a client that leaves at once),
 * so one more try follows. True once `ended` settled.
 */
export async function killUntilEnded(kill: () => Promise<unknown>, ended: Promise<unknown>): Promise<boolean> {
  let done = false;
  const settled = ended.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  for (let i = 0; i < TRIES && !done; i++) {
    await kill().catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([settled, new Promise((resolve) => (timer = setTimeout(resolve, RETRY_MS)))]);
    clearTimeout(timer);
  }
  return done;
}

/** The result as the caller sees it once a trigger fired: exit 124 `timedOut`, or exit 130 `cancelled`. */
export function stoppedResult(r: ExecResult, reason: StopReason | undefined): ExecResult {
  if (reason === "timeout") return { ...r, exitCode: TIMEOUT_EXIT, timedOut: true };
  if (reason === "cancel") return { ...r, exitCode: CANCEL_EXIT, cancelled: true };
  return r;
}
