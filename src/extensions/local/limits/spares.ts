import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { makeImage } from "./disk.js";

/**
 * Freshly formatted, never-mounted workspace images kept ready per size, so
 * a create only claims one (an atomic rename) and mounts it: mkfs runs at
 * teardown, off the create path. A spare holds nothing but an empty ext4;
 * a used image is never reused. `<run>/disk-spares/<bytes>-<random>.img`.
 */
const KEEP = 1;

function dirOf(run: string): string {
  return join(run, "disk-spares");
}

/** Move a spare of this size to `to`; false when there is none (the caller formats one). */
export function claimSpare(run: string, bytes: number, to: string): boolean {
  let names: string[] = [];
  try {
    names = readdirSync(dirOf(run));
  } catch {
    return false;
  }
  for (const name of names) {
    if (!name.startsWith(`${bytes}-`) || !name.endsWith(".img")) continue;
    try {
      renameSync(join(dirOf(run), name), to);
      return true;
    } catch {
      // Another create claimed it first: try the next.
    }
  }
  return false;
}

/**
 * Format spares of this size until KEEP are ready. A crash mid-format leaves
 * only a `.tmp-` file, removed here once it is a minute old.
 */
export async function refillSpares(run: string, bytes: number, signal: AbortSignal): Promise<void> {
  const dir = dirOf(run);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const names = readdirSync(dir);
  for (const name of names) {
    if (!name.startsWith(".tmp-")) continue;
    try {
      if (Date.now() - statSync(join(dir, name)).mtimeMs > 60_000) rmSync(join(dir, name), { force: true });
    } catch {}
  }
  for (let have = names.filter((n) => n.startsWith(`${bytes}-`)).length; have < KEEP; have++) {
    const tmp = join(dir, `.tmp-${randomBytes(6).toString("hex")}`);
    try {
      await makeImage(tmp, bytes, signal);
      renameSync(tmp, join(dir, `${bytes}-${randomBytes(6).toString("hex")}.img`));
    } catch {
      rmSync(tmp, { force: true });
      return;
    }
  }
}
