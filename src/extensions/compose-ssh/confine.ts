import { posix } from "node:path";

/** The little the policy needs from a file system: injected, so the checker stays a pure function. */
export interface StackFs {
  /** A regular file's text (following symlinks), or undefined when missing or not a file. */
  read(path: string): string | undefined;
  /** The target when `path` itself is a symlink, else undefined. */
  readlink(path: string): string | undefined;
}

export type Confined = { inside: true; path: string } | { inside: false; why: string };

const MAX_LINKS = 40;

/** Does `p` look like a path (and not a volume or image name)? */
export function looksLikePath(p: string): boolean {
  return /^[./~\\]/.test(p) || /^[A-Za-z]:[\\/]/.test(p) || p.includes("/");
}

/**
 * Walk `parts` from `root` as the kernel would on the host after the stack is
 * copied there: symlinks found in the stack are followed (relative to where
 * they sit), `..` steps up from the real directory. Null when the walk leaves root.
 */
function walk(root: string, parts: string[], fs: StackFs): string | null {
  let todo = [...parts];
  let cur = root;
  let links = 0;
  while (todo.length) {
    const part = todo.shift() as string;
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (cur === root) return null;
      cur = posix.dirname(cur);
      continue;
    }
    const next = posix.join(cur, part);
    const link = fs.readlink(next);
    if (link === undefined) {
      cur = next;
      continue;
    }
    if (++links > MAX_LINKS) return null;
    const target = posix.resolve(cur, link);
    const rel = posix.relative(root, target);
    if (rel === ".." || rel.startsWith("../") || posix.isAbsolute(rel)) return null;
    todo = [...rel.split("/"), ...todo];
    cur = root;
  }
  return cur;
}

/**
 * Where `p` (as written in the stack, relative to `base`) lands on the host,
 * if it stays inside `root`, the stack's own directory. Both readings must
 * stay inside: the raw path walked component by component (podman-compose
 * realpaths it) and the lexically cleaned one (docker compose joins and cleans
 * before the kernel follows links). Absolute and `~` paths name host files.
 */
export function confine(root: string, base: string, p: string, fs: StackFs): Confined {
  if (p.startsWith("~")) return { inside: false, why: "is in the engine user's home on the host" };
  if (posix.isAbsolute(p) || /^[A-Za-z]:[\\/]/.test(p) || p.startsWith("\\")) return { inside: false, why: "is an absolute path on the host" };
  const baseRel = posix.relative(root, base);
  if (baseRel.startsWith("..") || posix.isAbsolute(baseRel)) return { inside: false, why: "resolves outside the stack directory" };
  const raw = walk(root, [...baseRel.split("/"), ...p.split("/")], fs);
  const cleanRel = posix.relative(root, posix.join(base, p));
  const clean = cleanRel === ".." || cleanRel.startsWith("../") ? null : walk(root, cleanRel.split("/"), fs);
  if (raw === null || clean === null) return { inside: false, why: "resolves outside the stack directory" };
  return { inside: true, path: raw };
}
