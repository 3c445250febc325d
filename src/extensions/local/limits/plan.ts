import { type FullLimits, LIMIT_NAMES, type LimitName, limitAmount } from "../../../catalog/limits.js";
import type { Controller } from "./layout.js";

/**
 * Pure decision: which mechanism enforces each limit of a sandbox, given what
 * the host offers. cgroups where we can make them (they bound the sandbox as a
 * whole), rlimits otherwise (they bound each process, or the operator's uid),
 * nothing where neither can (said, with the reason). The extension applies it.
 */
export interface HostAbility {
  /** Controllers we can make sandbox cgroups for, with their version; others carry why not. */
  cgroups: Partial<Record<Controller, { version: 1 | 2 } | { why: string }>>;
  /** Running as root (rlimits on the process count do not bind root). */
  root: boolean;
  /** A loop-mounted ext4 image can back the workspace (root, loop devices, mkfs.ext4); else why not. */
  loopDisk: true | string;
}

export type Mechanism = "cgroup-v1" | "cgroup-v2" | "rlimit" | "loop-ext4" | "none";

export interface LimitEnforcement {
  /** As the profile (or the default) says it: 512, "2g", 0.5, "unlimited". */
  limit: number | string;
  enforcedBy: Mechanism;
  /** The knob: `pids.max`, `RLIMIT_NPROC`, `ext4 image`... */
  via?: string;
  /** What this mechanism does not cover, or why nothing enforces the limit. */
  note?: string;
}

export type LimitsPlan = Record<LimitName, LimitEnforcement>;

const CONTROLLER: Record<Exclude<LimitName, "disk">, Controller> = { processes: "pids", memory: "memory", cpu: "cpu" };
const KNOB: Record<Controller, Record<1 | 2, string>> = {
  pids: { 1: "pids.max", 2: "pids.max" },
  memory: { 1: "memory.limit_in_bytes", 2: "memory.max" },
  cpu: { 1: "cpu.cfs_quota_us", 2: "cpu.max" },
};

export function planLimits(limits: FullLimits, host: HostAbility): LimitsPlan {
  const plan = {} as LimitsPlan;
  for (const name of LIMIT_NAMES) {
    const limit = limits[name];
    if (limitAmount(limit) === Number.POSITIVE_INFINITY) {
      plan[name] = { limit, enforcedBy: "none", note: "unlimited in the profile" };
      continue;
    }
    if (name === "disk") {
      plan.disk =
        host.loopDisk === true
          ? { limit, enforcedBy: "loop-ext4", via: "ext4 image loop-mounted at the workspace", note: "writes past it fail with ENOSPC" }
          : {
              limit,
              enforcedBy: "rlimit",
              via: "RLIMIT_FSIZE",
              note: `bounds each file, not the workspace's total (${host.loopDisk}); a write past it fails with EFBIG`,
            };
      continue;
    }
    const cg = host.cgroups[CONTROLLER[name]];
    if (cg && "version" in cg) {
      plan[name] = { limit, enforcedBy: cg.version === 2 ? "cgroup-v2" : "cgroup-v1", via: KNOB[CONTROLLER[name]][cg.version] };
      continue;
    }
    const why = cg?.why ?? `no ${CONTROLLER[name]} cgroup controller on this host`;
    if (name === "processes") {
      plan.processes = host.root
        ? { limit, enforcedBy: "none", note: `${why}; RLIMIT_NPROC does not bind root` }
        : { limit, enforcedBy: "rlimit", via: "RLIMIT_NPROC", note: `${why}; counts every process of the operator's uid, not only this sandbox's` };
    } else if (name === "memory") {
      plan.memory = { limit, enforcedBy: "rlimit", via: "RLIMIT_DATA", note: `${why}; bounds each process's heap, not the sandbox's total` };
    } else {
      plan.cpu = { limit, enforcedBy: "none", note: `${why}; no rlimit can share out a CPU` };
    }
  }
  return plan;
}

/** Which rlimits `prlimit` sets for a plan: resource flag -> value. */
export function rlimitsOf(plan: LimitsPlan, limits: FullLimits): [string, number][] {
  const out: [string, number][] = [];
  if (plan.processes.enforcedBy === "rlimit") out.push(["--nproc", limitAmount(limits.processes)]);
  if (plan.memory.enforcedBy === "rlimit") out.push(["--data", limitAmount(limits.memory)]);
  if (plan.disk.enforcedBy === "rlimit") out.push(["--fsize", limitAmount(limits.disk)]);
  return out;
}

/**
 * Joining happens before the command runs, so nothing it starts can escape:
 * a tiny sh moves itself into each cgroup (writes 0, "me", to its `tasks` or
 * `cgroup.procs`, one per hierarchy: see procsFiles),
 * then execs prlimit (which sets the rlimits on itself) and prlimit execs the
 * command. Same pid all the way; every child is born inside.
 */
const JOIN =
  'n=$1; shift; while [ "$n" -gt 0 ]; do echo 0 > "$1" || { echo "sandboxer: cannot join cgroup $1" >&2; exit 125; }; shift; n=$((n-1)); done; exec "$@"';

export function confinedArgv(procsFiles: string[], rlimits: [string, number][], argv: string[]): string[] {
  const limited = rlimits.length ? ["prlimit", ...rlimits.map(([flag, v]) => `${flag}=${v}`), "--", ...argv] : argv;
  if (!procsFiles.length) return limited;
  return ["/bin/sh", "-c", JOIN, "sandboxer-join", String(procsFiles.length), ...procsFiles, ...limited];
}
