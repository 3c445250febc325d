/**
 * The caller's side of a vendor terminal (`exec -it`, `shell`), the same for
 * every vendor whose API has one: our terminal goes raw, keys go to the
 * remote terminal as they are typed, window size changes follow when the
 * vendor can resize, and the terminal is restored however the session ends.
 * Each vendor file says only how its SDK opens, feeds, resizes and waits.
 */

export interface WindowSize {
  cols: number;
  rows: number;
}

/** A terminal open at the vendor. */
export interface RemoteTerminal {
  send(data: Uint8Array): Promise<unknown>;
  /** Absent when the vendor cannot change a running terminal's size. */
  resize?(size: WindowSize): Promise<unknown>;
  /** The command's exit code, once the session ends. */
  wait(): Promise<number>;
}

/** Our window's size (80x24 when stdout is not a terminal). */
export const windowSize = (): WindowSize => ({ cols: process.stdout.columns || 80, rows: process.stdout.rows || 24 });

/** The local TERM for the remote side, so full-screen programs draw as here. */
export const termName = () => process.env.TERM || "xterm-256color";

/** Output of the remote terminal; the promise settles once it is written (backpressure). */
export type OnData = (d: Uint8Array) => Promise<void>;

/** How long to wait for the remote shell's first output (its prompt) before typing `firstInput` anyway. */
const PROMPT_WAIT_MS = 2000;

/**
 * Open a terminal with `open` (given our window's size and where its output
 * goes) and wire it to ours; `firstInput` is typed first (the vendor starts a
 * shell: it is told which command to `exec`), once the shell has printed its
 * prompt, so the line is not echoed ahead of it. Resolves to the command's exit code.
 */
export async function attachTerminal(open: (size: WindowSize, onData: OnData) => Promise<RemoteTerminal>, firstInput?: string): Promise<number> {
  let prompted: () => void = () => {};
  const prompt = new Promise<void>((resolve) => {
    prompted = resolve;
  });
  const onData: OnData = (d) => {
    prompted();
    return new Promise<void>((resolve) => process.stdout.write(d, () => resolve()));
  };
  const term = await open(windowSize(), onData);
  const input = process.stdin;
  const raw = input.isTTY === true;
  // One call at a time, in order: concurrent requests could deliver keys (and a resize) out of order.
  let queue: Promise<unknown> = Promise.resolve();
  const inOrder = (call: () => Promise<unknown>) => {
    queue = queue.then(call).catch(() => undefined);
  };
  let timer: NodeJS.Timeout | undefined;
  const send = (d: Buffer) => inOrder(() => term.send(new Uint8Array(d)));
  const resize = () => inOrder(async () => term.resize?.(windowSize()));
  try {
    if (raw) input.setRawMode(true);
    input.on("data", send);
    input.resume();
    if (term.resize) process.stdout.on("resize", resize);
    if (firstInput) {
      inOrder(async () => {
        await Promise.race([prompt, new Promise<void>((r) => (timer = setTimeout(r, PROMPT_WAIT_MS)))]);
        clearTimeout(timer);
        await term.send(new TextEncoder().encode(firstInput));
      });
    }
    return await term.wait();
  } finally {
    clearTimeout(timer);
    process.stdout.off("resize", resize);
    input.off("data", send);
    input.pause();
    if (raw) input.setRawMode(false);
  }
}
