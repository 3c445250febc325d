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
 * An exec that may be stopped (a timeout, a caller that leaves) runs as its
 * own process group, found again by a mark in its environment rather than a
 * pid file: nothing is written or left in the sandbox, no scratch directory
 * is needed, and the command is exec'd in place (one shell and a setsid more
 * than a plain exec). `$1` the mark (groupName()), then the command.
 */
export const GROUP_EXEC = [
  'export SANDBOXER_EXEC="$1"; shift',
  "pg=; read -r _ _ _ _ pg _ < /proc/$$/stat 2>/dev/null",
  '[ "$pg" = "$$" ] && exec "$@"',
  'command -v setsid >/dev/null 2>&1 && exec setsid "$@"',
  'exec "$@"',
].join("\n");

/**
 * `$1` the mark, `$2` signal name: signal every group led by a marked process
 * (a marked process that leads none, when setsid was missing, alone); exit 3
 * when no marked process is left. Only this sandbox's processes are seen.
 */
export const GROUP_EXEC_KILL = [
  "found=",
  'for e in $(grep -l -F "SANDBOXER_EXEC=$1" /proc/[0-9]*/environ 2>/dev/null); do',
  '  p=${e#/proc/}; p=${p%/environ}; pg=; read -r _ _ _ _ pg _ < "/proc/$p/stat" 2>/dev/null',
  '  if [ "$pg" = "$p" ]; then kill -s "$2" -- "-$p" 2>/dev/null && found=1; else kill -s "$2" "$p" 2>/dev/null && found=1; fi',
  "done",
  '[ -n "$found" ] || exit 3',
].join("\n");

/** A fresh mark for one exec's group. */
export const execMark = () => `exec-${randomBytes(6).toString("hex")}`;

export function groupExecArgv(mark: string, argv: string[]): string[] {
  return ["sh", "-c", GROUP_EXEC, "sh", mark, ...argv];
}

export function groupExecKillArgv(mark: string, signal: string): string[] {
  return ["sh", "-c", GROUP_EXEC_KILL, "sh", mark, signal];
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
