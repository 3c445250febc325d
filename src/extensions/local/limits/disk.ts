import { execFile } from "node:child_process";
import { closeSync, existsSync, ftruncateSync, openSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { promisify } from "node:util";
import { SandboxerError } from "../../../errors.js";

const run = promisify(execFile);

/**
 * The workspace's size limit as root: a sparse image file with its own ext4,
 * loop-mounted at the workspace path. Writing past it fails with ENOSPC inside
 * the sandbox and the host's disk holds at most the image's size. Sparse: an
 * empty 4g workspace costs a few hundred KiB. No journal (the workspace dies
 * with the sandbox) and no lazy inode-table init (it would write the whole
 * table in the background): mkfs is then a few milliseconds.
 */
export function loopDiskAbility(): true | string {
  if (process.geteuid?.() !== 0) return "loop mounts need root";
  if (!existsSync("/dev/loop-control")) return "no /dev/loop-control (loop devices unavailable)";
  if (!["/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4"].some((p) => existsSync(p))) return "mkfs.ext4 is not installed (Debian: e2fsprogs)";
  return true;
}

export async function makeImage(image: string, bytes: number, signal: AbortSignal): Promise<void> {
  const fd = openSync(image, "w", 0o600);
  try {
    ftruncateSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
  await run("mkfs.ext4", ["-q", "-F", "-m", "0", "-O", "^has_journal,^resize_inode", "-E", "nodiscard,lazy_itable_init=1", image], { signal });
}

const stderrOf = (err: unknown) => (err as { stderr?: string }).stderr?.trim() || (err as Error).message;

export async function mountImage(image: string, at: string, signal: AbortSignal): Promise<void> {
  try {
    await run("mount", ["-t", "ext4", "-o", "loop,nosuid,nodev,noinit_itable", image, at], { signal });
  } catch (err) {
    throw new SandboxerError("SBX_PROVISION_FAILED", `cannot mount the workspace image: ${stderrOf(err)}`, { cause: err });
  }
  // mkfs leaves lost+found; the workspace starts empty as it does without a disk limit.
  try {
    rmdirSync(`${at}/lost+found`);
  } catch {}
}

const unoctal = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));

/** Mount points of our mount namespace, unescaped. */
function mounts(): { at: string }[] {
  const out: { at: string }[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const [left] = line.split(" - ");
    const f = left?.split(" ") ?? [];
    if (f.length >= 6) out.push({ at: unoctal(f[4] as string) });
  }
  return out;
}

/** Is `path` a mount point in our mount namespace? */
export function isMounted(path: string): boolean {
  return mounts().some((m) => m.at === path);
}

/** Mount points at or below any of `roots`, deepest first (the order to unmount them in). */
export function mountsUnder(roots: string[]): string[] {
  const hit = (at: string) => roots.some((r) => at === r || at.startsWith(`${r}/`));
  return [
    ...new Set(
      mounts()
        .map((m) => m.at)
        .filter(hit),
    ),
  ].sort((a, b) => b.length - a.length);
}

/** Unmount `at` (lazily if something still holds it); idempotent. */
export async function unmount(at: string): Promise<void> {
  for (let i = 0; i < 20 && isMounted(at); i++) {
    try {
      await run("umount", [at]);
    } catch {
      // Busy: a dying process may still hold a file. Detach now; the loop device frees itself when the last user goes.
      if (i >= 10) await run("umount", ["-l", at]).catch(() => {});
      else await new Promise((r) => setTimeout(r, 20));
    }
  }
  if (isMounted(at)) throw new SandboxerError("SBX_TEARDOWN_FAILED", `${at} is still mounted`);
}

/** Unmount everything at or below `roots`, deepest first; idempotent. */
export async function unmountUnder(roots: string[]): Promise<void> {
  for (const at of mountsUnder(roots)) await unmount(at);
}

/** Unmount the workspace (and anything under it) and delete the image; idempotent. */
export async function removeImage(image: string, at: string): Promise<void> {
  await unmountUnder([at]);
  rmSync(image, { force: true });
}
