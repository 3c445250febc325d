/**
 * The CPU time a PostgreSQL server spends, read from the kernel: the
 * postmaster and every process it started (backends, WAL writer,
 * checkpointer...), each one's time on a CPU from /proc/<pid>/schedstat
 * (nanoseconds; /proc/<pid>/stat counts in 10 ms ticks, too coarse for a
 * create). Processes that ended between two readings are not counted: the
 * bench keeps its connections open across them.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const onCpuNs = (pid: number): number => Number(readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ")[0]);

function parentOf(pid: string): number {
  // The command name may hold spaces and parentheses: fields count from the last ')'.
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

/** Milliseconds on a CPU, summed over the server of data directory `dataDir` (its postmaster.pid) and its children. */
export function serverCpuMs(dataDir: string): number {
  const postmaster = Number(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
  let ns = onCpuNs(postmaster);
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      if (parentOf(pid) === postmaster) ns += onCpuNs(Number(pid));
    } catch {
      // Gone while we looked.
    }
  }
  return ns / 1e6;
}
