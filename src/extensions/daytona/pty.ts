/**
 * `sandboxer exec -it` / `shell` on Daytona: a terminal from the toolbox's PTY
 * API (the SDK's `process.createPty`: one WebSocket that creates the session
 * at our window's size and carries keys and output; `resize` is a toolbox
 * call), wired to ours by saas/terminal.ts. Daytona's PTY runs the sandbox's
 * shell: it is told to `exec` the command (argv quoted once), so the session
 * ends with it and its exit code is the answer. The session is deleted at the
 * end, so nothing is left running in the sandbox.
 */
import { randomUUID } from "node:crypto";
import { SandboxerError } from "../../errors.js";
import { shellJoin } from "../../transport/quote.js";
import { attachTerminal, termName } from "../saas/terminal.js";

type Sandbox = Awaited<ReturnType<InstanceType<typeof import("@daytonaio/sdk").Daytona>["get"]>>;

export async function ptyInDaytona(sb: Sandbox, argv: string[]): Promise<number> {
  const id = `sandboxer-pty-${randomUUID()}`;
  let handle: Awaited<ReturnType<Sandbox["process"]["createPty"]>> | undefined;
  try {
    return await attachTerminal(async (size, onData) => {
      const h = await sb.process.createPty({ id, ...size, envs: { TERM: termName() }, onData });
      handle = h;
      return {
        send: (d) => h.sendInput(d),
        resize: (s) => h.resize(s.cols, s.rows),
        wait: async () => {
          const r = await h.wait();
          if (typeof r.exitCode === "number") return r.exitCode;
          throw new SandboxerError("SBX_EXEC_FAILED", `daytona pty: the session ended without an exit code${r.error ? ` (${r.error})` : ""}`);
        },
      };
    }, `exec ${shellJoin(argv)}\n`);
  } finally {
    await handle?.disconnect();
    // Gone already when the command ended; a session cut short (an error) is ended here.
    if (handle) await sb.process.killPtySession(id).catch(() => {});
  }
}
