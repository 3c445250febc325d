/**
 * `sandboxer exec -it` / `shell` on E2B: a terminal from envd's PTY API (the
 * SDK's `sandbox.pty`: a login shell on a pseudo-terminal of our window's
 * size). Our terminal goes raw, keys go to the PTY as they are typed, window
 * size changes follow (`pty.resize`), and the shell is told to `exec` the
 * command (argv quoted once), so the session ends with it and its exit code
 * is the answer. The terminal is restored however it ends.
 */
import { shellJoin } from "../../transport/quote.js";
import type { ExecResult } from "../define.js";
import type { E2bSdk } from "./exec.js";

type ConnOpts = NonNullable<Parameters<E2bSdk["Sandbox"]["connect"]>[1]>;

export async function ptyInSandbox(sdk: E2bSdk, sandboxId: string, argv: string[], conn: ConnOpts): Promise<ExecResult> {
  const sb = await sdk.Sandbox.connect(sandboxId, conn);
  const out = process.stdout;
  const input = process.stdin;
  const size = () => ({ cols: out.columns || 80, rows: out.rows || 24 });
  const handle = await sb.pty.create({
    ...size(),
    onData: (d) => new Promise<void>((resolve) => out.write(d, () => resolve())),
    // The session lasts as long as the user keeps it; requestTimeoutMs still bounds its start.
    timeoutMs: 0,
    envs: { TERM: process.env.TERM || "xterm-256color" },
  });
  const raw = input.isTTY === true;
  // One call at a time, in order: concurrent requests could deliver keys (and a resize) out of order.
  let queue: Promise<unknown> = Promise.resolve();
  const inOrder = (call: () => Promise<unknown>) => {
    queue = queue.then(call).catch(() => undefined);
  };
  const send = (d: Buffer) => inOrder(() => sb.pty.sendInput(handle.pid, new Uint8Array(d)));
  const resize = () => inOrder(() => sb.pty.resize(handle.pid, size()));
  try {
    if (raw) input.setRawMode(true);
    input.on("data", send);
    input.resume();
    out.on("resize", resize);
    // `exec` replaces the login shell: the session is the command.
    inOrder(() => sb.pty.sendInput(handle.pid, new TextEncoder().encode(`exec ${shellJoin(argv)}\n`)));
    try {
      return { exitCode: (await handle.wait()).exitCode };
    } catch (err) {
      if (err instanceof sdk.CommandExitError) return { exitCode: err.exitCode };
      throw err;
    }
  } finally {
    out.off("resize", resize);
    input.off("data", send);
    input.pause();
    if (raw) input.setRawMode(false);
  }
}
