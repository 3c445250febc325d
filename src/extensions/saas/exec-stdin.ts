/**
 * Stdin for `exec` on a vendor whose SDK can write to a running command: the
 * API's body (`opts.stdin`), else the CLI's stdin when it is piped
 * (`echo hi | sandboxer exec ID -- cat`; a terminal is never read here, a
 * person typing goes through `exec -it`). Bytes go in order, then EOF; once
 * the command has ended, the rest is not read.
 */
import type { ExecIo, ExecOptions } from "../define.js";

/** What to feed the command, or undefined for none (it gets EOF at once). */
export function stdinOf(io: ExecIo, opts: ExecOptions): AsyncIterable<Uint8Array> | undefined {
  const given = opts.stdin;
  if (Buffer.isBuffer(given)) {
    return (async function* () {
      if (given.length) yield given;
    })();
  }
  if (given) return given;
  if (io.stdin === "inherit" && !process.stdin.isTTY) return process.stdin;
  return undefined;
}

/** Feed `src` with `write`, then `close` (EOF); `stop` gives up once the command has ended. */
export function feedStdin(src: AsyncIterable<Uint8Array>, write: (d: Uint8Array) => Promise<unknown>, close: () => Promise<unknown>): { stop(): void } {
  const it = src[Symbol.asyncIterator]();
  let stopped = false;
  (async () => {
    for (;;) {
      const next = await it.next();
      if (next.done || stopped) break;
      await write(next.value);
    }
    if (!stopped) await close();
  })().catch(() => {
    // The command ended (or the sandbox went) while we wrote: its exit code, or the exec's error, tells.
  });
  return {
    stop() {
      stopped = true;
      it.return?.().catch(() => {});
    },
  };
}
