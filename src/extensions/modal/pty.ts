/**
 * Terminals on Modal (`exec -it`, `shell`, the server's terminal WebSocket):
 * the SDK's `sandbox.exec(argv, {pty: true})` runs the command on a terminal
 * in the sandbox (output of both streams on stdout, keys through stdin).
 *
 * The SDK (modal 0.11) opens every terminal at 80x24 and has no call to resize
 * one. So the command starts behind `sh -c 'stty cols C rows R; exec "$@"'`
 * with the asked size (the image needs `sh` and `stty`), and later window
 * size changes are not passed on (docs/agents.md says so). Nor can it kill
 * an exec: closing sends EOF on the terminal's input (a shell at its prompt ends).
 */
import type { BackendTerminal, TerminalSize } from "../io-types.js";
import type { OnData } from "../saas/terminal.js";

type Sandbox = Awaited<ReturnType<InstanceType<typeof import("modal").ModalClient>["sandboxes"]["fromId"]>>;

/** Sets the terminal to the size given in $1 and $2, then becomes the command; argv stays argv. */
const SIZED = 'stty cols "$1" rows "$2" 2>/dev/null; shift 2; exec "$@"';

export async function modalTerminal(sb: Sandbox, argv: string[], size: TerminalSize, onData: OnData, started: <T>(p: Promise<T>) => Promise<T>): Promise<BackendTerminal> {
  const proc = await started(sb.exec(["sh", "-c", SIZED, "sh", String(size.cols), String(size.rows), ...argv], { mode: "binary", pty: true, stdout: "pipe", stderr: "pipe" }));
  const drain = async (from: AsyncIterable<Uint8Array>) => {
    for await (const chunk of from) await onData(chunk);
  };
  const output = Promise.all([drain(proc.stdout), drain(proc.stderr)]);
  output.catch(() => {});
  return {
    send: (d) => proc.stdin.writeBytes(d),
    wait: async () => {
      const [code] = await Promise.all([proc.wait(), output]);
      return code;
    },
    close: async () => {
      await proc.stdin.writeBytes(new Uint8Array([4])).catch(() => {});
    },
  };
}
