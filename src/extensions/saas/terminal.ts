/**
 * Vendor terminals (`exec -it`, `shell`, the server's terminal WebSocket),
 * the same for every vendor whose API has one. Each vendor file says only how
 * its SDK opens, feeds, resizes, waits for and ends a terminal (a
 * BackendTerminal); here:
 *   - `typedFirst`: the vendor starts a shell, which is told to `exec` the
 *     command once it has printed its prompt (so the line is not echoed ahead
 *     of it), before any key;
 *   - `attachTerminal`: the local CLI's side: our terminal goes raw, keys go
 *     as they are typed, window size changes follow when the vendor can
 *     resize, and our terminal is restored however the session ends.
 */
import type { BackendTerminal, TerminalSize } from "../io-types.js";

export type OnData = (d: Uint8Array) => Promise<void>;
export type OpenTerminal = (size: TerminalSize, onData: OnData) => Promise<BackendTerminal>;

/** How long to wait for the remote shell's first output (its prompt) before typing the line anyway. */
const PROMPT_WAIT_MS = 2000;

/** The local TERM for the remote side, so full-screen programs draw as here. */
export const termName = () => process.env.TERM || "xterm-256color";

/** `open`, with `line` typed once the remote shell has printed something (or after a short wait), before any other key. */
export function typedFirst(open: OpenTerminal, line: string): OpenTerminal {
  return async (size, onData) => {
    let prompted: () => void = () => {};
    const prompt = new Promise<void>((resolve) => {
      prompted = resolve;
    });
    const term = await open(size, (d) => {
      prompted();
      return onData(d);
    });
    let timer: NodeJS.Timeout | undefined;
    const typed = Promise.race([prompt, new Promise<void>((r) => (timer = setTimeout(r, PROMPT_WAIT_MS)))]).then(() => {
      clearTimeout(timer);
      return term.send(new TextEncoder().encode(line));
    });
    typed.catch(() => {});
    return {
      send: (d) => typed.then(() => term.send(d)),
      ...(term.resize ? { resize: term.resize.bind(term) } : {}),
      wait: () => term.wait().finally(() => clearTimeout(timer)),
      close: () => {
        clearTimeout(timer);
        return term.close();
      },
    };
  };
}

const windowSize = (): TerminalSize => ({ cols: process.stdout.columns || 80, rows: process.stdout.rows || 24 });

/** Open a terminal of our window's size and wire it to ours; resolves to the command's exit code. */
export async function attachTerminal(open: OpenTerminal): Promise<number> {
  const term = await open(windowSize(), (d) => new Promise<void>((resolve) => process.stdout.write(d, () => resolve())));
  const input = process.stdin;
  const raw = input.isTTY === true;
  // One call at a time, in order: concurrent requests could deliver keys (and a resize) out of order.
  let queue: Promise<unknown> = Promise.resolve();
  const inOrder = (call: () => Promise<unknown>) => {
    queue = queue.then(call).catch(() => undefined);
  };
  const send = (d: Buffer) => inOrder(() => term.send(new Uint8Array(d)));
  const resize = () => inOrder(async () => term.resize?.(windowSize()));
  try {
    if (raw) input.setRawMode(true);
    input.on("data", send);
    input.resume();
    if (term.resize) process.stdout.on("resize", resize);
    return await term.wait();
  } finally {
    process.stdout.off("resize", resize);
    input.off("data", send);
    input.pause();
    if (raw) input.setRawMode(false);
    // Gone already when the command ended; an error cut the session short: end it there too.
    await term.close().catch(() => {});
  }
}
