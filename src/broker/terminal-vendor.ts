/**
 * A vendor's terminal (an extension's `terminal` method, its PTY API) as a
 * session of the server's terminal WebSocket: keys go in order, one call at a
 * time; output that comes before the route listens is kept for it; closing
 * ends the session at the vendor.
 */
import type { Extension, ExtensionContext, TerminalSize } from "../extensions/define.js";
import type { PtySession } from "../sandbox-shell/pty.js";
import type { Handle } from "../types.js";

export async function vendorSession(
  open: NonNullable<Extension["terminal"]>,
  ctx: ExtensionContext,
  handle: Handle,
  argv: string[],
  size: TerminalSize,
): Promise<PtySession> {
  const early: Buffer[] = [];
  let listener: ((chunk: Buffer) => void) | undefined;
  const term = await open(ctx, handle, argv, size, async (d) => {
    const chunk = Buffer.from(d);
    if (listener) listener(chunk);
    else early.push(chunk);
  });
  let queue: Promise<unknown> = Promise.resolve();
  const inOrder = (call: () => Promise<unknown>) => {
    const next = queue.then(call);
    queue = next.catch(() => undefined);
    return next;
  };
  return {
    write: (data) => {
      inOrder(() => term.send(data)).catch(() => {});
    },
    // A vendor that cannot resize (Modal) keeps its first size.
    resize: async (s) => {
      await inOrder(async () => term.resize?.(s));
    },
    onData(fn) {
      listener = fn;
      for (const c of early.splice(0)) fn(c);
    },
    exited: term.wait(),
    close: () => {
      inOrder(() => term.close()).catch(() => {});
    },
  };
}
