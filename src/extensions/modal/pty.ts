/**
 * Terminals on Modal (`exec -it`, `shell`, the server's terminal WebSocket):
 * the SDK's `sandbox.exec(argv, {pty: true})` runs the command on a terminal
 * in the sandbox (output of both streams on stdout, keys through stdin).
 *
 * The SDK (modal 0.11) opens every terminal at 80x24 and has no call to resize
 * one. So the command starts behind `sh -c 'stty cols C rows R; exec "$@"'`
 * with the asked size (the image needs `sh` and `stty`), and later window
 * size changes are not passed on (docs/agents.md says so). Nor can it kill
 * an exec: the command writes its pid to a file first, and closing the
 * session hangs it up from a second exec (SIGHUP, as a closing terminal
 * does) and removes the file.
 */
import { randomUUID } from "node:crypto";
import type { BackendTerminal, TerminalSize } from "../io-types.js";
import type { OnData } from "../saas/terminal.js";

type Sandbox = Awaited<ReturnType<InstanceType<typeof import("modal").ModalClient>["sandboxes"]["fromId"]>>;

/** Writes its pid to $1, sets the terminal to $2 columns and $3 rows, then becomes the command; argv stays argv. */
const SIZED = 'echo $$ > "$1"; stty cols "$2" rows "$3" 2>/dev/null; shift 3; exec "$@"';
/** Hangs up the command whose pid is in $1 (if it still runs) and removes the file. */
const HANGUP = '[ -s "$1" ] && kill -HUP "$(cat "$1")" 2>/dev/null; rm -f "$1"';

export async function modalTerminal(
  sb: Sandbox,
  argv: string[],
  size: TerminalSize,
  onData: OnData,
  started: <T>(p: Promise<T>) => Promise<T>,
): Promise<BackendTerminal> {
  const pidFile = `/tmp/.sandboxer-pty-${randomUUID()}`;
  const proc = await started(
    sb.exec(["sh", "-c", SIZED, "sh", pidFile, String(size.cols), String(size.rows), ...argv], { mode: "binary", pty: true, stdout: "pipe", stderr: "pipe" }),
  );
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
      const hangup = await started(sb.exec(["sh", "-c", HANGUP, "sh", pidFile], { stdout: "ignore", stderr: "ignore" }));
      await started(hangup.wait());
    },
  };
}
