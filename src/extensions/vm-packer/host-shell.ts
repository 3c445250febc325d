/**
 * Fixed shell scripts run on the placement host or the VM. User data never
 * enters the script text: it is passed as positional arguments ("$1"...), and
 * the transport quotes every argv element once (src/transport/quote.ts).
 */
import { SandboxerError } from "../../errors.js";
import type { RunResult, Transport } from "../../transport/types.js";

/** Prints `dir` then the template files in it, `file`, or `missing`. */
export const PROBE_TEMPLATE =
  'if [ -d "$1" ]; then echo dir; for f in "$1"/*.pkr.hcl "$1"/*.pkr.json; do [ -f "$f" ] && echo "$f"; done; elif [ -f "$1" ]; then echo file; else echo missing; fi; exit 0';

/**
 * Runs argv in its own session (so SIGINT reaches the whole process group,
 * plugins included) from directory $2, recording the group id in $1 first.
 * `setsid -w` forks when already a group leader (as under sshd) and then waits.
 */
export const RUN_IN_GROUP = 'echo $$ > "$1" || exit 125; cd "$2" || exit 126; shift 2; exec "$@"';

/** Signal the process group recorded in $1, if it is still there. Exit 0 = delivered, 3 = nothing running. */
export const SIGNAL_GROUP = 'p=$(cat "$1" 2>/dev/null) || exit 3; [ -n "$p" ] || exit 3; kill -s "$2" -- "-$p" 2>/dev/null || exit 3';

/** Is the group in $1 alive? Exit 0 yes, 3 no. */
export const GROUP_ALIVE = 'p=$(cat "$1" 2>/dev/null) || exit 3; [ -n "$p" ] && kill -0 -- "-$p" 2>/dev/null || exit 3';

/** sh -c SCRIPT with positional arguments; `sh` fills $0. */
export function script(body: string, ...args: string[]): string[] {
  return ["sh", "-c", body, "sh", ...args];
}

/** A command that is not there exits 127 from a shell (remote) or ENOENT locally (thrown by the transport). */
export function missingCommand(res: RunResult): boolean {
  return res.code === 127 || /(^|: )(\S+: )?(command )?not found/m.test(res.stderr);
}

/**
 * Stop a process group politely: SIGINT (Packer cancels its builds and cleans
 * up), wait up to `graceMs`, then SIGKILL. Safe when nothing runs.
 */
export async function stopGroup(t: Transport, pidFile: string, graceMs: number): Promise<"none" | "interrupted" | "killed"> {
  const sent = await t.run(script(SIGNAL_GROUP, pidFile, "INT"));
  if (sent.code === 3) return "none";
  const until = Date.now() + graceMs;
  while (Date.now() < until) {
    if ((await t.run(script(GROUP_ALIVE, pidFile))).code !== 0) return "interrupted";
    await new Promise((r) => setTimeout(r, 200));
  }
  await t.run(script(SIGNAL_GROUP, pidFile, "KILL"));
  for (let i = 0; i < 25; i++) {
    if ((await t.run(script(GROUP_ALIVE, pidFile))).code !== 0) return "killed";
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new SandboxerError("SBX_TEARDOWN_FAILED", `process group in ${pidFile} survived SIGKILL`);
}
