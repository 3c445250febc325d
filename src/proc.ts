import { readdirSync, readFileSync } from "node:fs";

/**
 * Process identity = pid + start time (clock ticks since boot, /proc/PID/stat
 * field 22), so a recycled pid is never mistaken for the process that owned a record.
 */
function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // comm (field 2) may hold spaces and parens: split after the last ')'. Index 0 = field 3 (state).
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

export function processStartTime(pid: number): string | null {
  return statFields(pid)?.[19] ?? null;
}

/** Alive, not a zombie, and (when known) the same process that started at `start`. */
export function isSameProcessAlive(pid: number | null, start: string | null): boolean {
  if (!pid) return false;
  const f = statFields(pid);
  if (!f || f[0] === "Z" || f[0] === "X") return false;
  return start === null || f[19] === start;
}

export const SELF = { pid: process.pid, start: processStartTime(process.pid) };

export function readCmdline(pid: number): string[] | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(0, -1);
  } catch {
    return null;
  }
}

/** The direct children of `pid` (/proc/PID/task/PID/children; a /proc scan where the kernel lacks it). */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    const out: number[] = [];
    for (const name of readdirSync("/proc")) {
      if (!/^\d+$/.test(name)) continue;
      try {
        // Field 4 of /proc/PID/stat, after the parenthesised command name.
        if (readFileSync(`/proc/${name}/stat`, "utf8").split(") ")[1]?.split(" ")[1] === String(pid)) out.push(Number(name));
      } catch {}
    }
    return out;
  }
}

/** All pids whose argv satisfies `match` (used to find sandbox processes by id after a crash). */
export function findProcesses(match: (argv: string[]) => boolean): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const argv = readCmdline(Number(name));
    if (argv?.length && match(argv)) out.push(Number(name));
  }
  return out;
}
