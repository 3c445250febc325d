import { mkdirSync, readdirSync, renameSync, rmdirSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { crashPoint } from "../../../faults.js";
import { isMounted, makeImage, mountImage, mountsUnder, unmountUnder } from "./disk.js";

/**
 * Spare workspace filesystems, made ahead of time so a create only claims
 * one (a rename) and points its workspace path at it (a symlink): mkfs, the
 * loop device and the ext4 mount (20-60 ms) happen at teardown, off the
 * create path, and the create starts no process for its disk (a `mount
 * --move` would be one more fork of node, 5-25 ms on a loaded host; the
 * kernel refuses to rename a mount point, so the link is what is left).
 *
 * `<run>/disk-spares/<bytes>-<slot>/` holds `disk.img` and `mnt/`, that image
 * freshly formatted and mounted, never written. Bounded: at most KEEP per
 * size (the slot names are the bound: publishing is a rename onto a free slot)
 * and MAX_SIZES sizes. Owned by no sandbox and no tenant until claimed; a
 * claimed spare is the claiming sandbox's from then on and is never put back:
 * every sandbox gets a filesystem nobody used before.
 *
 * Crash safety comes from where the in-between states live: a spare being
 * made lives in the run directory of the sandbox whose teardown makes it, a
 * claimed one in the run directory of the sandbox that claimed it. A crash
 * leaves it there, and that sandbox's teardown (rerun by `reconcile`, or by
 * `reap-stale` for a directory without a record) unmounts everything under
 * its run directory. What sits in `disk-spares/` is complete by construction.
 */
export const KEEP = 1;
export const MAX_SIZES = 2;

export function sparesDir(run: string): string {
  return join(run, "disk-spares");
}

interface Spare {
  name: string;
  bytes: number;
  dir: string;
  mounted: boolean;
}

/** The spares in `disk-spares/`, and whether each is still mounted (a reboot unmounts them). */
export function listSpares(run: string): Spare[] {
  let names: string[] = [];
  try {
    names = readdirSync(sparesDir(run));
  } catch {
    return [];
  }
  const mounted = new Set(mountsUnder([sparesDir(run)]));
  return names
    .filter((n) => /^\d+-\d+$/.test(n))
    .map((name) => {
      const dir = join(sparesDir(run), name);
      return { name, bytes: Number(name.split("-")[0]), dir, mounted: mounted.has(join(dir, "mnt")) };
    });
}

/**
 * Take a spare of this size: rename it to `to` (atomic, so of two creates
 * racing only one gets it), then check it is mounted. One a reboot left
 * unmounted is not a filesystem we can vouch for: dropped, and the next tried.
 * Returns false when there is none (the caller formats its own).
 */
export function claimSpare(run: string, bytes: number, to: string): boolean {
  let names: string[] = [];
  try {
    names = readdirSync(sparesDir(run));
  } catch {
    return false;
  }
  for (const name of names) {
    if (!name.startsWith(`${bytes}-`) || !/^\d+-\d+$/.test(name)) continue;
    try {
      renameSync(join(sparesDir(run), name), to);
    } catch {
      continue; // another create claimed it first
    }
    if (isMounted(join(to, "mnt"))) return true;
    rmSync(to, { recursive: true, force: true });
  }
  return false;
}

/**
 * The workspace path of a sandbox that claimed a spare into `spare`: a link
 * to the spare's mount, `<run>/<id>/spare/mnt`. Host-side work follows it
 * (bwrap's bind, tar -C, realpath for a copy); the sandbox sees the
 * filesystem at /workspace as always and cannot reach the link, which lives
 * in the server's workspaces directory. `workspace` is the empty directory
 * provision made: rmdir refuses anything else, so nothing is ever hidden.
 */
export function linkWorkspace(spare: string, workspace: string): void {
  rmdirSync(workspace);
  symlinkSync(join(spare, "mnt"), workspace);
}

/**
 * Make one spare of this size in `work` (a directory inside the run directory
 * of the sandbox being torn down) and publish it, unless KEEP are already
 * there. Spares of other sizes beyond MAX_SIZES are claimed into `work` and
 * unmounted. Best effort: a failure only means the next create formats its own.
 */
export async function refillSpares(run: string, bytes: number, work: string, signal: AbortSignal): Promise<void> {
  mkdirSync(sparesDir(run), { recursive: true, mode: 0o700 });
  const have = listSpares(run);
  const free = Array.from({ length: KEEP }, (_, i) => `${bytes}-${i}`).filter((n) => !have.some((s) => s.name === n));
  if (!free.length) return;
  // Beyond MAX_SIZES sizes, and spares a reboot unmounted: claimed into `work` (so no create takes them meanwhile), then removed.
  const others = [...new Set(have.filter((s) => s.bytes !== bytes).map((s) => s.bytes))];
  const evict = new Set(others.slice(0, Math.max(0, others.length - (MAX_SIZES - 1))));
  for (const s of have.filter((x) => evict.has(x.bytes) || !x.mounted)) {
    const gone = join(work, `evict-${s.name}`);
    try {
      renameSync(s.dir, gone);
    } catch {
      continue;
    }
    await unmountUnder([gone]);
    rmSync(gone, { recursive: true, force: true });
  }
  const build = join(work, "next-spare");
  try {
    mkdirSync(join(build, "mnt"), { recursive: true, mode: 0o700 });
    await makeImage(join(build, "disk.img"), bytes, signal);
    await mountImage(join(build, "disk.img"), join(build, "mnt"), signal);
    crashPoint("disk-spare-built");
    for (const name of free) {
      try {
        // Onto a free slot only: a directory holding something is never replaced.
        renameSync(build, join(sparesDir(run), name));
        return;
      } catch {}
    }
  } catch {}
  // Every slot was filled meanwhile, or making it failed: nothing of it stays.
  await unmountUnder([build]);
  rmSync(build, { recursive: true, force: true });
}

/** Unmount and delete every spare of this run directory (a home being removed). Returns how many there were. */
export async function removeSpares(run: string): Promise<number> {
  const n = listSpares(run).length;
  await unmountUnder([sparesDir(run)]);
  rmSync(sparesDir(run), { recursive: true, force: true });
  return n;
}
