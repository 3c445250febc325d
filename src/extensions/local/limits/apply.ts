import { existsSync, readFileSync, renameSync } from "node:fs";
import { dirname, join } from "node:path";
import { type FullLimits, LIMIT_NAMES, limitAmount } from "../../../catalog/limits.js";
import type { Env } from "../../../config.js";
import { SandboxerError } from "../../../errors.js";
import { canUse, type CgroupHost, cgroupHost, listCgroups, makeCgroup, removeCgroups } from "./cgroups.js";
import { crashPoint } from "../../../faults.js";
import { loopDiskAbility, makeImage, mountImage, mountsUnder, removeImage, unmountUnder } from "./disk.js";
import { type Controller, CONTROLLERS } from "./layout.js";
import { claimSpare, linkWorkspace, listSpares, refillSpares } from "./spares.js";
import { type HostAbility, type LimitsPlan, planLimits, rlimitsOf } from "./plan.js";

/**
 * The effects of a limits plan for one sandbox: make its cgroups, its
 * workspace image, and say how to start processes inside them; undo all of
 * it by sandbox id. What it records goes into the handle (paths, for us) and
 * the reachability (mechanisms, for operators; no server paths).
 */
export interface Confinement {
  plan: LimitsPlan;
  /** The sandbox's cgroup directories (one per v1 hierarchy, or one v2 cgroup). */
  cgroups: string[];
  /** The rlimits every process of the sandbox starts with (`prlimit` flags). */
  rlimits: [string, number][];
  /** The workspace's image file when the disk limit is a loop-mounted ext4, and its size. */
  image?: string;
  diskBytes?: number;
}

/** What this host can enforce for this process, with reasons for what it cannot. */
export function hostAbility(home: string, env: Env): { ability: HostAbility; cgroups: CgroupHost } {
  const cgroups = cgroupHost(home, env);
  const ability: HostAbility = { cgroups: {}, root: process.geteuid?.() === 0, loopDisk: loopDiskAbility() };
  for (const c of CONTROLLERS) {
    const p = cgroups.placements[c];
    if (!p) {
      ability.cgroups[c] = { why: `no ${c} controller mounted (cgroups ${cgroups.version})` };
      continue;
    }
    const can = canUse(p, c);
    ability.cgroups[c] = can.ok ? { version: p.version } : { why: can.why };
  }
  return { ability, cgroups };
}

const AMOUNT_OF: Record<Controller, keyof FullLimits> = { pids: "processes", memory: "memory", cpu: "cpu" };

/**
 * Make the sandbox's cgroups (every usable controller, even for an unlimited
 * value: they also gather the sandbox's processes for teardown), then its
 * workspace image. `checkpoint` is called as soon as a resource exists.
 */
export async function confine(
  id: string,
  limits: FullLimits,
  where: { home: string; env: Env; workspace: string; runDir: string },
  signal: AbortSignal,
  checkpoint: (c: Confinement) => Promise<void> | void,
): Promise<Confinement> {
  const { ability, cgroups } = hostAbility(where.home, where.env);
  const dirs = new Set<string>();
  // A profile that turns every limit off (trusted, adm-only work) gets the plain sandbox: nothing to enforce.
  const anything = LIMIT_NAMES.some((n) => Number.isFinite(limitAmount(limits[n])));
  for (const c of anything ? CONTROLLERS : []) {
    const p = cgroups.placements[c];
    if (!p || !ability.cgroups[c] || !("version" in (ability.cgroups[c] ?? {}))) continue;
    const made = makeCgroup(p, c, id, limitAmount(limits[AMOUNT_OF[c]]));
    if ("dir" in made) dirs.add(made.dir);
    else ability.cgroups[c] = { why: made.why };
  }
  const plan = planLimits(limits, ability);
  const out: Confinement = { plan, cgroups: [...dirs], rlimits: rlimitsOf(plan, limits) };
  await checkpoint(out);
  if (plan.disk.enforcedBy === "loop-ext4") {
    out.image = join(where.runDir, "disk.img");
    out.diskBytes = limitAmount(limits.disk);
    await checkpoint(out);
    // A spare made at an earlier teardown (src/extensions/local/limits/spares.ts): two renames and a link, no process.
    const spare = join(where.runDir, "spare");
    if (claimSpare(dirname(where.runDir), out.diskBytes, spare)) {
      crashPoint("disk-spare-claimed");
      renameSync(join(spare, "disk.img"), out.image);
      linkWorkspace(spare, where.workspace);
      crashPoint("disk-spare-linked");
    } else {
      await makeImage(out.image, out.diskBytes, signal);
      await mountImage(out.image, where.workspace, signal);
    }
  }
  return out;
}

/**
 * The file of each of the sandbox's cgroups a new process writes `0` to, to
 * join it. v1: `tasks`, which moves the writing thread alone (the joining sh
 * has one) without the kernel's global threadgroup lock, whose first taking
 * waits out an RCU grace period (10-15 ms on this host); `cgroup.procs`
 * (v2, and v1 without `tasks`) moves the whole process and does wait.
 */
export function procsFiles(c: Pick<Confinement, "cgroups">): string[] {
  return c.cgroups.map((d) => join(d, existsSync(join(d, "tasks")) ? "tasks" : "cgroup.procs"));
}

/**
 * Kill what is left in the sandbox's cgroups, remove them, unmount everything
 * under its workspace and run directory (the workspace filesystem, and a spare
 * claimed or being made when a crash came between) and delete its image.
 * Then make the next create's spare, while nobody waits on it. Idempotent.
 */
export async function release(
  id: string,
  known: Partial<Confinement> | undefined,
  where: { home: string; env: Env; workspace: string; runDir: string },
): Promise<void> {
  const found = listCgroups(cgroupHost(where.home, where.env)).get(id) ?? [];
  const left = await removeCgroups([...new Set([...(known?.cgroups ?? []), ...found])]);
  if (left.length) throw new SandboxerError("SBX_TEARDOWN_FAILED", `cgroups of ${id} still hold processes: ${left.join(", ")}`);
  if (!mountsUnder([where.workspace, where.runDir]).length && !known?.image) return;
  await removeImage(known?.image ?? join(where.runDir, "disk.img"), where.workspace);
  await unmountUnder([where.runDir]);
  if (known?.diskBytes && loopDiskAbility() === true && existsSync(where.runDir)) {
    await refillSpares(dirname(where.runDir), known.diskBytes, where.runDir, new AbortController().signal);
  }
}

/** How many processes the kernel's OOM killer has ended in the sandbox's memory cgroup. */
export function oomKills(c: Pick<Confinement, "cgroups">): number {
  for (const dir of c.cgroups) {
    for (const file of ["memory.events", "memory.oom_control"]) {
      try {
        const m = /^oom_kill (\d+)$/m.exec(readFileSync(join(dir, file), "utf8"));
        if (m) return Number(m[1]);
      } catch {}
    }
  }
  return 0;
}

/**
 * For `inspect host`: what this machine can enforce for ext.local sandboxes
 * started by this user, and why not where it cannot. Changes nothing.
 */
export function enforcementReport(home: string, env: Env): Record<string, unknown> {
  const { ability, cgroups } = hostAbility(home, env);
  const controllers: Record<string, unknown> = {};
  for (const c of CONTROLLERS) {
    const a = ability.cgroups[c];
    const p = cgroups.placements[c];
    controllers[c] =
      a && "version" in a
        ? { version: a.version, writable: true, parent: p?.parent ?? null }
        : { version: p?.version ?? null, writable: false, why: a?.why ?? "not mounted" };
  }
  const hard: Record<string, string> = {};
  try {
    for (const [name, label] of [
      ["RLIMIT_NPROC", "Max processes"],
      ["RLIMIT_DATA", "Max data size"],
      ["RLIMIT_FSIZE", "Max file size"],
    ] as const) {
      const m = new RegExp(`^${label}\\s+\\S+\\s+(\\S+)`, "m").exec(readFileSync("/proc/self/limits", "utf8"));
      if (m?.[1]) hard[name] = m[1];
    }
  } catch {}
  return {
    uid: process.geteuid?.() ?? null,
    cgroups: { version: cgroups.version, controllers },
    // Fallbacks: set with prlimit on each sandbox process; they cannot exceed our own hard limits.
    rlimits: { tool: "prlimit", hard, rootExemptFromNproc: ability.root },
    // Spare workspace filesystems kept mounted for the next creates: how many, of which sizes (bytes).
    disk:
      ability.loopDisk === true
        ? { mechanism: "loop-ext4", spares: listSpares(join(home, "run")).map((s) => ({ bytes: s.bytes, mounted: s.mounted })) }
        : { mechanism: "rlimit", why: ability.loopDisk },
  };
}
