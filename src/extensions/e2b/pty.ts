/**
 * Terminals on E2B (`exec -it`, `shell`, the server's terminal WebSocket):
 * envd's PTY API (the SDK's `sandbox.pty`: a login shell on a pseudo-terminal
 * of the asked size; `pty.resize` follows window changes). The shell is told
 * to `exec` the command (argv quoted once; saas/terminal.ts), so the session
 * ends with it and its exit code is the answer.
 */
import { shellJoin } from "../../transport/quote.js";
import type { BackendTerminal } from "../define.js";
import { type OnData, termName, typedFirst } from "../saas/terminal.js";
import type { TerminalSize } from "../io-types.js";
import type { E2bSdk } from "./exec.js";

type ConnOpts = NonNullable<Parameters<E2bSdk["Sandbox"]["connect"]>[1]>;

export function e2bTerminal(sdk: E2bSdk, sandboxId: string, argv: string[], conn: ConnOpts, size: TerminalSize, onData: OnData): Promise<BackendTerminal> {
  const open = async (at: TerminalSize, out: OnData): Promise<BackendTerminal> => {
    const sb = await sdk.Sandbox.connect(sandboxId, conn);
    const handle = await sb.pty.create({
      ...at,
      onData: out,
      // The session lasts as long as the user keeps it; requestTimeoutMs still bounds its start.
      timeoutMs: 0,
      envs: { TERM: termName() },
    });
    return {
      send: (d) => sb.pty.sendInput(handle.pid, d),
      resize: (s) => sb.pty.resize(handle.pid, s),
      wait: async () => {
        try {
          return (await handle.wait()).exitCode;
        } catch (err) {
          if (err instanceof sdk.CommandExitError) return err.exitCode;
          throw err;
        }
      },
      close: async () => {
        await sb.pty.kill(handle.pid).catch(() => false);
      },
    };
  };
  return typedFirst(open, `exec ${shellJoin(argv)}\n`)(size, onData);
}
