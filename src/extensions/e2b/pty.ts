/**
 * `sandboxer exec -it` / `shell` on E2B: a terminal from envd's PTY API (the
 * SDK's `sandbox.pty`: a login shell on a pseudo-terminal of our window's
 * size), wired to ours by saas/terminal.ts; window size changes follow
 * (`pty.resize`). The shell is told to `exec` the command (argv quoted once),
 * so the session ends with it and its exit code is the answer.
 */
import { shellJoin } from "../../transport/quote.js";
import type { ExecResult } from "../define.js";
import { attachTerminal, termName } from "../saas/terminal.js";
import type { E2bSdk } from "./exec.js";

type ConnOpts = NonNullable<Parameters<E2bSdk["Sandbox"]["connect"]>[1]>;

export async function ptyInSandbox(sdk: E2bSdk, sandboxId: string, argv: string[], conn: ConnOpts): Promise<ExecResult> {
  const sb = await sdk.Sandbox.connect(sandboxId, conn);
  const exitCode = await attachTerminal(async (size, onData) => {
    const handle = await sb.pty.create({
      ...size,
      onData,
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
    };
  }, `exec ${shellJoin(argv)}\n`);
  return { exitCode };
}
