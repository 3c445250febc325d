import { accessSync, constants, type Dirent, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { SANDBOX_ID_RE } from "../../../ids.js";
import { type Controller, CONTROLLERS, limitFiles, type Placement, parseMountinfo, parseProcCgroup, placements } from "./layout.js";

/** Files a kernel may lack (no swap accounting): their absence is not an error. */
const OPTIONAL = new Set(["memory.memsw.limit_in_bytes", "memory.swap.max"]);

export interface CgroupHost {
  /** "v2" (unified only), "v1", "hybrid" (both mounted, like this machine), or "none". */
  version: "v1" | "v2" | "hybrid" | "none";
  placements: Partial<Record<Controller, Placement>>;
}

/** Read the host's cgroup layout for this process (cheap: two /proc files and one sysfs file). */
export function cgroupHost(home: string, env: Record<string, string | undefined>): CgroupHost {
  let mounts: ReturnType<typeof parseMountinfo> = [];
  let self: ReturnType<typeof parseProcCgroup> = { v1: new Map(), unified: null };
  try {
    mounts = parseMountinfo(readFileSync("/proc/self/mountinfo", "utf8"));
    self = parseProcCgroup(readFileSync("/proc/self/cgroup", "utf8"));
  } catch {
    return { version: "none", placements: {} };
  }
  const v2 = mounts.find((m) => m.version === 2);
  let v2Controllers: string[] = [];
  if (v2) v2Controllers = read(join(v2.mountPoint, "cgroup.controllers"))?.split(/\s+/).filter(Boolean) ?? [];
  const hasV1 = mounts.some((m) => m.version === 1);
  const version = v2 && hasV1 ? "hybrid" : v2 ? "v2" : hasV1 ? "v1" : "none";
  return { version, placements: placements(mounts, self, v2Controllers, home, env.SANDBOXER_CGROUP_ROOT) };
}

function read(file: string): string | null {
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    return null;
  }
}

/**
 * Can this process make cgroups for `c`? Without creating anything: the
 * nearest existing directory on the way must be writable, and on v2 the
 * controller must be enabled (or enable-able) down from the base.
 */
export function canUse(p: Placement, c: Controller): { ok: true } | { ok: false; why: string } {
  let dir = p.parent;
  while (!existsSync(dir) && dir !== dirname(dir)) dir = dirname(dir);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    return { ok: false, why: `cgroup v${p.version} ${c} hierarchy not writable by uid ${process.geteuid?.()} (no delegated cgroup)` };
  }
  if (p.version === 2) {
    const base = join(p.mountPoint, p.base);
    const enabled = read(join(base, "cgroup.subtree_control"))?.split(/\s+/) ?? [];
    const procs = read(join(base, "cgroup.procs"));
    if (!enabled.includes(c) && procs && p.base !== "/") {
      return { ok: false, why: `${c} is not enabled below our own cgroup, which holds processes (set SANDBOXER_CGROUP_ROOT to a delegated cgroup)` };
    }
  }
  return { ok: true };
}

/** v2 only: turn the controller on in every cgroup from the base down to the parent. */
function enableDown(p: Placement, c: Controller): void {
  const base = join(p.mountPoint, p.base);
  for (let dir = base; ; ) {
    const sub = read(join(dir, "cgroup.subtree_control"))?.split(/\s+/) ?? [];
    if (!sub.includes(c)) writeFileSync(join(dir, "cgroup.subtree_control"), `+${c}`);
    if (dir === p.parent) break;
    dir = join(dir, p.parent.slice(dir.length + 1).split("/")[0] as string);
    mkdirSync(dir, { recursive: true });
  }
}

/**
 * Make the sandbox's cgroup for one controller and write its limit. Returns
 * the directory, or why it could not (the caller falls back to an rlimit).
 */
export function makeCgroup(p: Placement, c: Controller, id: string, amount: number): { dir: string } | { why: string } {
  const dir = join(p.parent, id);
  try {
    mkdirSync(p.parent, { recursive: true });
    if (p.version === 2) enableDown(p, c);
    mkdirSync(dir, { recursive: true });
    if (Number.isFinite(amount)) {
      for (const [file, value] of limitFiles(p.version, c, amount)) {
        if (OPTIONAL.has(file) && !existsSync(join(dir, file))) continue;
        writeFileSync(join(dir, file), value);
      }
    }
    return { dir };
  } catch (err) {
    // v2 shares one directory between controllers: leave it to teardown.
    if (p.version === 1) rmCgroupDir(dir);
    return { why: `cannot make a ${c} cgroup: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
}

function rmCgroupDir(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ENOENT";
  }
}

export function cgroupPids(dir: string): number[] {
  return (read(join(dir, "cgroup.procs")) ?? "").split("\n").filter(Boolean).map(Number);
}

/**
 * Kill everything left in the cgroups and remove them; idempotent. The pids
 * limit keeps a fork bomb from outrunning the kill loop; v2's cgroup.kill
 * does it in one write.
 */
export async function removeCgroups(dirs: string[], timeoutMs = 10_000): Promise<string[]> {
  const until = Date.now() + timeoutMs;
  const left = new Set(dirs.filter((d) => existsSync(d)));
  while (left.size && Date.now() < until) {
    for (const dir of left) {
      if (existsSync(join(dir, "cgroup.kill"))) {
        try {
          writeFileSync(join(dir, "cgroup.kill"), "1");
        } catch {}
      }
      for (const pid of cgroupPids(dir)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {}
      }
      if (!cgroupPids(dir).length && rmCgroupDir(dir)) left.delete(dir);
    }
    if (left.size) await new Promise((r) => setTimeout(r, 10));
  }
  return [...left];
}

/**
 * Every `sandboxer/<home tag>` directory in the hierarchies we use, wherever it
 * hangs: a sandbox made by a process in another cgroup (another login, the
 * service) is found too. Bounded walk; cgroup trees are small.
 */
function parentsOf(host: CgroupHost): string[] {
  const found = new Set<string>();
  // One walk per hierarchy (v2 places every controller in the same one).
  const byMount = new Map(Object.values(host.placements).map((p) => [p.mountPoint, p]));
  for (const p of byMount.values()) {
    const tag = p.parent.slice(p.parent.lastIndexOf("/") + 1);
    let level = [p.mountPoint];
    for (let depth = 0; depth < 8 && level.length; depth++) {
      const next: string[] = [];
      for (const dir of level) {
        let entries: Dirent[] = [];
        try {
          entries = readdirSync(dir, { withFileTypes: true });
        } catch {
          continue;
        }
        for (const e of entries) {
          if (!e.isDirectory()) continue;
          if (e.name === "sandboxer") {
            if (existsSync(join(dir, e.name, tag))) found.add(join(dir, e.name, tag));
          } else if (!SANDBOX_ID_RE.test(e.name)) next.push(join(dir, e.name));
        }
      }
      level = next;
    }
  }
  return [...found];
}

/** Every sandbox cgroup of this home: id -> directories. */
export function listCgroups(host: CgroupHost): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const parent of parentsOf(host)) {
    let names: string[] = [];
    try {
      names = readdirSync(parent);
    } catch {
      continue;
    }
    for (const name of names) if (SANDBOX_ID_RE.test(name)) out.set(name, [...(out.get(name) ?? []), join(parent, name)]);
  }
  return out;
}

/** The sandbox's cgroup for a controller, if it is one of `dirs`. */
export function dirFor(host: CgroupHost, dirs: string[], c: Controller): string | undefined {
  const p = host.placements[c];
  return p ? dirs.find((d) => d.startsWith(`${p.mountPoint}/`)) : undefined;
}

export { CONTROLLERS };
