/**
 * Terminals on Daytona (`exec -it`, `shell`, the server's terminal
 * WebSocket): the toolbox's PTY API (the SDK's `process.createPty`: one
 * WebSocket that creates the session at the asked size and carries keys and
 * output; `resize` is a toolbox call). Daytona's PTY runs the sandbox's shell:
 * it is told to `exec` the command (argv quoted once; saas/terminal.ts), so
 * the session ends with it and its exit code is the answer. Closing deletes
 * the session, so nothing is left running in the sandbox.
 */
import { randomUUID } from "node:crypto";
import { SandboxerError } from "../../errors.js";
import { shellJoin } from "../../transport/quote.js";
import type { BackendTerminal, TerminalSize } from "../io-types.js";
import { type OnData, termName, typedFirst } from "../saas/terminal.js";

type Sandbox = Awaited<ReturnType<InstanceType<typeof import("@daytonaio/sdk").Daytona>["get"]>>;

export function daytonaTerminal(sb: Sandbox, argv: string[], size: TerminalSize, onData: OnData): Promise<BackendTerminal> {
  const open = async (at: TerminalSize, out: OnData): Promise<BackendTerminal> => {
    const id = `sandboxer-pty-${randomUUID()}`;
    const h = await sb.process.createPty({ id, ...at, envs: { TERM: termName() }, onData: out });
    return {
      send: (d) => h.sendInput(d),
      resize: (s) => h.resize(s.cols, s.rows),
      wait: async () => {
        const r = await h.wait();
        if (typeof r.exitCode === "number") return r.exitCode;
        throw new SandboxerError("SBX_EXEC_FAILED", `daytona pty: the session ended without an exit code${r.error ? ` (${r.error})` : ""}`);
      },
      close: async () => {
        await h.disconnect();
        // Gone already when the command ended.
        await sb.process.killPtySession(id).catch(() => {});
      },
    };
  };
  return typedFirst(open, `exec ${shellJoin(argv)}\n`)(size, onData);
}
