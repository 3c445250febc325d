/**
 * Process groups inside a sandbox, so `--timeout` and `kill` reach everything
 * a command started and leave no orphan. The wrapper records its pid in a
 * file inside the sandbox and becomes a process group leader (setsid when it
 * is not one already; the pid stays the same since setsid only forks a
 * leader), then execs the command: the group id is the pid in the file.
 * POSIX sh; setsid is in util-linux and busybox alike.
 */
import { randomBytes } from "node:crypto";

export const DEFAULT_SCRATCH = "/tmp/.sandboxer";

/** `$1` dir, `$2` pid file name, then the command. */
export const GROUP_RUN = [
  "d=$1; n=$2; shift 2",
  'mkdir -p -- "$d" 2>/dev/null; echo "$$" > "$d/$n" 2>/dev/null',
  "pg=; read -r _ _ _ _ pg _ < /proc/$$/stat 2>/dev/null",
  '[ "$pg" = "$$" ] && exec "$@"',
  'command -v setsid >/dev/null 2>&1 && exec setsid "$@"',
  'exec "$@"',
].join("\n");

/**
 * The group's leader for an exec that may be stopped (a timeout, a caller
 * that leaves): as GROUP_RUN, but the leader stays a shell that runs the
 * command as its child and removes the pid file once it ends, so an exec that
 * ends by itself leaves nothing in the sandbox and needs no second command.
 * A killed group leaves the file to whoever killed it. Same arguments.
 */
const EXEC_LEADER = 'd=$1; n=$2; shift 2; echo "$$" > "$d/$n" 2>/dev/null; "$@"; r=$?; rm -f -- "$d/$n"; exit $r';
export const GROUP_EXEC = [
  // A test before the mkdir: one process less on every exec but the first.
  '[ -d "$1" ] || mkdir -p -- "$1" 2>/dev/null',
  "pg=; read -r _ _ _ _ pg _ < /proc/$$/stat 2>/dev/null",
  `[ "$pg" != "$$" ] && command -v setsid >/dev/null 2>&1 && exec setsid sh -c '${EXEC_LEADER}' sh "$@"`,
  EXEC_LEADER,
].join("\n");

export function groupExecArgv(dir: string, name: string, argv: string[]): string[] {
  return ["sh", "-c", GROUP_EXEC, "sh", dir, name, ...argv];
}

/** `$1` dir, `$2` pid file name, `$3` signal name: signal the whole group (exit 3: no such group any more). */
export const GROUP_KILL = [
  'f="$1/$2"; p=; [ -f "$f" ] && read -r p < "$f"',
  '[ -n "$p" ] || exit 3',
  'kill -s "$3" -- "-$p" 2>/dev/null || kill -s "$3" "$p" 2>/dev/null || exit 3',
].join("\n");

/** A fresh pid file name. */
export const groupName = (prefix = "exec") => `${prefix}-${randomBytes(6).toString("hex")}.pid`;

export function groupRunArgv(dir: string, name: string, argv: string[]): string[] {
  return ["sh", "-c", GROUP_RUN, "sh", dir, name, ...argv];
}

export function groupKillArgv(dir: string, name: string, signal: string): string[] {
  return ["sh", "-c", GROUP_KILL, "sh", dir, name, signal];
}

/** Signal names `kill -s` takes everywhere (no SIG prefix). */
export const SIGNALS = ["TERM", "KILL", "INT", "HUP", "QUIT", "USR1", "USR2", "STOP", "CONT"] as const;
