/**
 * A build's process group on the placement host, and how it is stopped
 * without ever signalling someone else's processes.
 *
 * The build runs in its own session (so SIGINT reaches Packer and its plugins
 * at once). Its pid file holds the group id AND the leader's start time (field
 * 22 of /proc/PID/stat, clock ticks since boot); the leader's environment
 * carries `SANDBOXER_BUILD=<sandbox id>`, inherited by every process it starts.
 * Before a signal the group must still be this build's:
 *  - leader alive: its start time is the recorded one (a recycled pid has
 *    another start time);
 *  - leader gone but the group still there (Packer's plugins): a member
 *    carries the marker (a recycled pgid's members do not).
 * A group that fails the check is left alone (exit 4). Linux /proc is required
 * on the placement host; without it nothing is signalled.
 */
import { SandboxerError } from "../../errors.js";
import type { Transport } from "../../transport/types.js";
import { script } from "./host-shell.js";

/** The environment variable every process of a build carries: `SANDBOXER_BUILD=<sandbox id>`. */
export const BUILD_MARKER = "SANDBOXER_BUILD";

/** `KEY=VALUE` for the build's environment (`env` argv) and for the ownership check. */
export const markerOf = (sandboxId: string) => `${BUILD_MARKER}=${sandboxId}`;

/** Start time of PID $1 from /proc/$1/stat (the comm field may hold spaces and parens: cut after the last ") "). */
// biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a JS template
const START_OF = 'start_of() { s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; s=${s##*) }; set -- $s; eval "echo \\${20}"; }';

/**
 * Runs argv in its own session from directory $2, recording "<pgid> <start time>"
 * in $1 first. `setsid -w` forks when already a group leader (as under sshd) and
 * then waits; `exec` keeps the pid and start time, so the leader is Packer itself.
 */
export const RUN_IN_GROUP = `${START_OF}; st=$(start_of $$) || st=unknown; echo "$$ $st" > "$1" || exit 125; cd "$2" || exit 126; shift 2; exec "$@"`;

/**
 * Sets $p to the group in pid file $f when it is still the build marked $m;
 * exit 3 = nothing running, 4 = the id now belongs to someone else.
 */
const OWNED = [
  START_OF,
  '{ read -r p st < "$f"; } 2>/dev/null || [ -n "$p" ] || exit 3',
  'case "$p" in ""|*[!0-9]*) exit 3 ;; esac',
  // `kill -s 0`: dash's kill reads `-0 --` as a bad number.
  'kill -s 0 -- "-$p" 2>/dev/null || exit 3',
  'if cur=$(start_of "$p"); then [ "$cur" = "$st" ] || exit 4',
  "else",
  "  mine=",
  "  for d in /proc/[0-9]*; do",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a JS template
  '    s=$(cat "$d/stat" 2>/dev/null) || continue; s=${s##*) }; set -- $s',
  '    [ "$3" = "$p" ] || continue',
  '    if tr "\\0" "\\n" < "$d/environ" 2>/dev/null | grep -qxF -- "$m"; then mine=1; break; fi',
  "  done",
  '  [ -n "$mine" ] || exit 4',
  "fi",
].join("\n");

/** $1 pid file, $2 marker, $3 signal: deliver to the group if it is the build's. Exit 0 delivered, 3 nothing running, 4 not ours. */
export const SIGNAL_GROUP = `f=$1 m=$2 sig=$3\n${OWNED}\nkill -s "$sig" -- "-$p" 2>/dev/null || exit 3`;

/** $1 pid file, $2 marker: is the build's group alive? Exit 0 yes, 3 no, 4 the id is someone else's now. */
export const GROUP_ALIVE = `f=$1 m=$2\n${OWNED}\nexit 0`;

export type StopResult = "none" | "not-ours" | "interrupted" | "killed";

/**
 * Stop a build's process group politely: SIGINT (Packer cancels its builds and
 * cleans up), wait up to `graceMs`, then SIGKILL. Every signal is preceded by
 * the ownership check; a group that is not the build's is never signalled.
 */
export async function stopGroup(t: Transport, pidFile: string, marker: string, graceMs: number): Promise<StopResult> {
  const sent = await t.run(script(SIGNAL_GROUP, pidFile, marker, "INT"));
  if (sent.code === 3) return "none";
  if (sent.code === 4) return "not-ours";
  const until = Date.now() + graceMs;
  while (Date.now() < until) {
    if ((await t.run(script(GROUP_ALIVE, pidFile, marker))).code !== 0) return "interrupted";
    await new Promise((r) => setTimeout(r, 200));
  }
  await t.run(script(SIGNAL_GROUP, pidFile, marker, "KILL"));
  for (let i = 0; i < 25; i++) {
    if ((await t.run(script(GROUP_ALIVE, pidFile, marker))).code !== 0) return "killed";
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new SandboxerError("SBX_TEARDOWN_FAILED", `process group in ${pidFile} survived SIGKILL`);
}
