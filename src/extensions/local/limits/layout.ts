import { createHash } from "node:crypto";
import { join } from "node:path";

/**
 * Pure reading of the host's cgroup layout: which hierarchies are mounted
 * (/proc/self/mountinfo), where this process sits in each (/proc/self/cgroup),
 * and so where a sandbox's cgroups go. No file is touched here.
 */
export type Controller = "pids" | "memory" | "cpu";
export const CONTROLLERS: readonly Controller[] = ["pids", "memory", "cpu"];

export interface CgroupMount {
  version: 1 | 2;
  mountPoint: string;
  /** v1: the controllers bound to this hierarchy (mount options); v2: read from cgroup.controllers. */
  controllers: string[];
}

/** Unescape mountinfo's octal escapes (`\040` for a space). */
const unoctal = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));

export function parseMountinfo(text: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of text.split("\n")) {
    const [left, right] = line.split(" - ");
    if (!left || !right) continue;
    const mountPoint = unoctal(left.split(" ")[4] ?? "");
    const [fstype, , superOpts = ""] = right.split(" ");
    // Only hierarchies mounted at their root: a bind of a sub-cgroup would misplace every path.
    if (left.split(" ")[3] !== "/") continue;
    if (fstype === "cgroup2") out.push({ version: 2, mountPoint, controllers: [] });
    else if (fstype === "cgroup")
      out.push({ version: 1, mountPoint, controllers: superOpts.split(",").filter((o) => !["rw", "ro"].includes(o) && !o.includes("=")) });
  }
  return out;
}

/** This process's cgroup in each hierarchy: v1 by controller name, v2 as `unified`. */
export function parseProcCgroup(text: string): { v1: Map<string, string>; unified: string | null } {
  const v1 = new Map<string, string>();
  let unified: string | null = null;
  for (const line of text.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const [, hid, ctrls = "", path = "/"] = m;
    if (hid === "0" && ctrls === "") unified = path;
    else for (const c of ctrls.split(",")) v1.set(c, path);
  }
  return { v1, unified };
}

/**
 * A short tag of SANDBOXER_HOME: two homes on one machine keep their cgroups
 * apart, so one home's stale detection never reports (or reaps) another's.
 */
export function homeTag(home: string): string {
  return `h-${createHash("sha256").update(home).digest("hex").slice(0, 10)}`;
}

export interface Placement {
  version: 1 | 2;
  /** The mount of the hierarchy. */
  mountPoint: string;
  /** Where sandboxer's cgroups hang, relative to the mount: `<base>/sandboxer`. */
  base: string;
  /** `<mount><base>/sandboxer/<home tag>`: a sandbox's cgroup is `<parent>/<sbx-id>`. */
  parent: string;
}

/**
 * Where each controller's sandbox cgroups go. v2 is preferred for a controller
 * the unified hierarchy offers (`v2Controllers`, from its root cgroup.controllers);
 * otherwise the v1 hierarchy that has it. The base is SANDBOXER_CGROUP_ROOT
 * when the operator names a delegated cgroup, else the cgroup this process
 * is in: sandboxes stay inside whatever limits the operator's own cgroup has.
 */
export function placements(
  mounts: CgroupMount[],
  self: ReturnType<typeof parseProcCgroup>,
  v2Controllers: string[],
  home: string,
  root?: string,
): Partial<Record<Controller, Placement>> {
  const out: Partial<Record<Controller, Placement>> = {};
  const tag = homeTag(home);
  const place = (version: 1 | 2, mountPoint: string, own: string): Placement => {
    const base = root || own;
    return { version, mountPoint, base, parent: join(mountPoint, base, "sandboxer", tag) };
  };
  const v2 = mounts.find((m) => m.version === 2);
  for (const c of CONTROLLERS) {
    if (v2 && v2Controllers.includes(c) && self.unified !== null) {
      out[c] = place(2, v2.mountPoint, self.unified);
      continue;
    }
    const v1 = mounts.find((m) => m.version === 1 && m.controllers.includes(c));
    const own = self.v1.get(c);
    if (v1 && own !== undefined) out[c] = place(1, v1.mountPoint, own);
  }
  return out;
}

/** The files a limit is written to, per cgroup version; values as the kernel reads them. */
export function limitFiles(version: 1 | 2, c: Controller, amount: number): [string, string][] {
  if (c === "pids") return [["pids.max", String(amount)]];
  if (c === "cpu") {
    const quota = Math.max(1000, Math.round(amount * 100_000));
    return version === 2
      ? [["cpu.max", `${quota} 100000`]]
      : [
          ["cpu.cfs_period_us", "100000"],
          ["cpu.cfs_quota_us", String(quota)],
        ];
  }
  // Swap must not stretch the limit: v1 memsw (when swap accounting is on) = the same limit; v2 swap.max = 0.
  return version === 2
    ? [
        ["memory.max", String(amount)],
        ["memory.swap.max", "0"],
      ]
    : [
        ["memory.limit_in_bytes", String(amount)],
        ["memory.memsw.limit_in_bytes", String(amount)],
      ];
}
