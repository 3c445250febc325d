/**
 * Fixed POSIX sh scripts that do file work INSIDE a sandbox (run through the
 * extension's `sandboxCommand`: nsenter into a local sandbox's namespaces,
 * `podman exec` in a compose container, ssh to a VM workspace). Paths resolve
 * in the sandbox's own view, so a workspace symlink to /etc/shadow or ../../
 * names the sandbox's file, never the host's. Values are positional
 * arguments; nothing is ever spliced into the script text.
 *
 * Every script takes the confinement root first ('' = none): on a shared VM
 * the resolved path (links included, `realpath -m`) must stay under it.
 * Tools used are in busybox as well as coreutils: tar, stat, mkdir, mv, rm,
 * cat, head, wc, xargs, readlink (realpath -m only when confined).
 *
 * Exit codes: 3 nothing there, 4 wrong kind (a directory where a file was
 * meant, or the reverse), 5 outside the root, 6 the operation failed.
 */

export const NOT_THERE = 3;
export const WRONG_KIND = 4;
export const OUTSIDE = 5;
export const FAILED = 6;

const PRELUDE = [
  'root=$1; shift; [ -z "$root" ] || root=$(realpath -m -- "$root") || exit 6',
  // Is $1 (resolved inside the sandbox, links and .. included) under the root?
  'inside() { [ -z "$root" ] && return 0; r=$(realpath -m -- "$1") || return 1; case "$r" in "$root"|"$root"/*) return 0;; esac; return 1; }',
  // Is the directory holding $1 under the root? (For what acts on a link itself, never following it.)
  `parent_inside() { q=$(absol "$1"); q=\${q%/*}; inside "\${q:-/}"; }`,
  // Absolute form of $1 without trailing slashes (relative = from the working directory).
  `absol() { case "$1" in /*) p=$1;; *) p=$PWD/$1;; esac; while [ "\${#p}" -gt 1 ] && [ "\${p%/}" != "$p" ]; do p=\${p%/}; done; printf "%s" "$p"; }`,
].join("\n");

const script = (...lines: string[]) => [PRELUDE, ...lines].join("\n");

/**
 * Uploads cut off by a crash of whoever sent them (kill -9, a dropped
 * connection) leave their staging dir or temporary file behind, never the
 * destination half written; the next upload to the same place removes those
 * older than an hour (best effort: find -mmin is in busybox and findutils).
 */
const SWEEP = `find "\${1%/}/" -maxdepth 1 -name '.sbx-upload-*' -mmin +60 -exec rm -rf -- {} + 2>/dev/null`;

/** Stage an upload: `$1` dest dir (made if missing), `$2` a fresh staging dir name inside it; tar on stdin. */
export const PUT_STAGE = script(
  'inside "$1" || exit 5',
  'mkdir -p -- "$1" || exit 6',
  '[ -d "$1" ] || exit 4',
  'inside "$1" || exit 5',
  'mkdir -- "$1/$2" || exit 6',
  SWEEP,
  'tar -x -f - -C "$1/$2" || exit 6',
);

/**
 * Move a staged upload into place: directories merge, anything else replaces
 * what is there (rename: a symlink in the way is replaced, never followed).
 * A directory over a non-directory (or the reverse) is refused before
 * anything moves.
 */
export const PUT_COMMIT = script(
  'check() ( for e in "$1"/* "$1"/.[!.]* "$1"/..?*; do',
  `  [ -e "$e" ] || [ -L "$e" ] || continue; n=\${e##*/}; t="$2/$n"`,
  '  [ -e "$t" ] || [ -L "$t" ] || continue',
  '  if [ -d "$e" ] && [ ! -L "$e" ]; then',
  '    if [ -d "$t" ] && [ ! -L "$t" ]; then check "$e" "$t" || exit 4; else echo "$t: not a directory" >&2; exit 4; fi',
  '  elif [ -d "$t" ] && [ ! -L "$t" ]; then echo "$t: is a directory" >&2; exit 4; fi',
  "done )",
  // Entries with nothing in the way move in batches (one `mv` for many: a tree of thousands is not thousands of processes).
  'merge() ( src=$1; dst=$2; set --; for e in "$src"/* "$src"/.[!.]* "$src"/..?*; do',
  `  [ -e "$e" ] || [ -L "$e" ] || continue; n=\${e##*/}; t="$dst/$n"`,
  '  if [ -d "$e" ] && [ ! -L "$e" ] && [ -d "$t" ] && [ ! -L "$t" ]; then merge "$e" "$t" || exit 6',
  '  elif [ -e "$t" ] || [ -L "$t" ]; then mv -f -- "$e" "$t" || exit 6',
  '  else set -- "$@" "$e"; [ "$#" -lt 256 ] || { mv -f -- "$@" "$dst/" || exit 6; set --; }; fi',
  'done; [ "$#" -eq 0 ] || mv -f -- "$@" "$dst/" || exit 6 )',
  's="$1/$2"',
  'check "$s" "$1" || { rm -rf -- "$s"; exit 4; }',
  'merge "$s" "$1" || exit 6',
  'rm -rf -- "$s"',
);

/** Remove a staging dir or temporary file left by an upload that failed or was too large. */
export const DISCARD = script('[ -n "$1" ] && rm -rf -- "$1"');

/** Write stdin to a temporary file beside `$1` (named `$2`, mode `$3` if set); prints the byte count. */
export const WRITE_STAGE = script(
  'inside "$1" || exit 5',
  `p=$(absol "$1"); d=\${p%/*}; [ -n "$d" ] || d=/`,
  'mkdir -p -- "$d" || exit 6',
  'inside "$d" || exit 5',
  '[ -d "$p" ] && [ ! -L "$p" ] && exit 4',
  `find "$d/" -maxdepth 1 -name '.sbx-upload-*' -mmin +60 -exec rm -rf -- {} + 2>/dev/null`,
  't="$d/$2"',
  'cat > "$t" || { rm -f -- "$t"; exit 6; }',
  'if [ -n "$3" ]; then chmod "$3" "$t" || { rm -f -- "$t"; exit 6; }; fi',
  'wc -c < "$t"',
);

/** Rename the temporary file `$2` (beside `$1`) over `$1`: the write appears whole. */
export const WRITE_COMMIT = script(`p=$(absol "$1"); d=\${p%/*}; [ -n "$d" ] || d=/`, 'mv -f -- "$d/$2" "$p" || exit 6');

/** The size of regular file `$1` on the first line, then at most `$2` bytes of it ('' = all). */
export const READ = script(
  'inside "$1" || exit 5',
  '[ -e "$1" ] || exit 3',
  '[ -f "$1" ] || exit 4',
  'wc -c < "$1" || exit 6',
  'if [ -z "$2" ]; then exec cat -- "$1"; else exec head -c "$2" -- "$1"; fi',
);

/** A tar of `$1` (file, directory or link, never followed) with one top entry named after it. */
export const GET_ARCHIVE = script(
  'parent_inside "$1" || exit 5',
  '[ -e "$1" ] || [ -L "$1" ] || exit 3',
  'p=$(absol "$1"); [ "$p" = / ] && exit 4',
  `d=\${p%/*}; [ -n "$d" ] || d=/`,
  'cd -- "$d" || exit 6',
  `exec tar -c -f - -- "\${p##*/}"`,
);

/**
 * `$1`'s children (or `$1` itself when not a directory), `$2` at most: first
 * `D <total>` (a directory) or `F 1`, then one `stat` line (`%f %s %Y %n`: raw mode in hex, size,
 * mtime, name) per entry, then `--links--` and name/target line pairs.
 */
export const LIST = script(
  'inside "$1" || exit 5',
  '[ -e "$1" ] || [ -L "$1" ] || exit 3',
  "lim=$2",
  'if [ -d "$1" ]; then cd -- "$1" || exit 6; set --; for e in .[!.]* ..?* *; do { [ -e "$e" ] || [ -L "$e" ]; } && set -- "$@" "$e"; done; echo "D $#"',
  `else p=$(absol "$1"); cd -- "\${p%/*}/" || exit 6; set -- "\${p##*/}"; echo "F 1"; fi`,
  '[ "$#" -gt 0 ] && [ "$lim" -gt 0 ] || exit 0',
  'i=0; for e; do i=$((i+1)); [ "$i" -gt "$lim" ] && break; printf "%s\\0" "$e"; done | xargs -0 stat -c "%f %s %Y %n" -- || exit 6',
  "echo --links--",
  'i=0; for e; do i=$((i+1)); [ "$i" -gt "$lim" ] && break; [ -L "$e" ] && printf "%s\\n%s\\n" "$e" "$(readlink -- "$e")"; done; exit 0',
);

/** The entry at `$1` itself: one stat line, then the link target when it is one. */
export const STAT = script(
  'parent_inside "$1" || exit 5',
  '[ -e "$1" ] || [ -L "$1" ] || exit 3',
  'stat -c "%f %s %Y %n" -- "$1" || exit 6',
  '[ -L "$1" ] && readlink -- "$1"; exit 0',
);

/**
 * Remove `$1` (`$2` = 1: directories too). The link itself is what goes, so
 * only its parent must be inside the root; the root itself is never removed.
 */
export const REMOVE = script(
  'p=$(absol "$1"); [ "$p" = / ] && exit 4',
  `d=\${p%/*}; [ -n "$d" ] || d=/`,
  'inside "$d" || exit 5',
  '[ -n "$root" ] && [ "$(realpath -m -- "$p")" = "$root" ] && [ ! -L "$p" ] && exit 5',
  '[ -e "$p" ] || [ -L "$p" ] || exit 3',
  'if [ -d "$p" ] && [ ! -L "$p" ]; then [ "$2" = 1 ] || exit 4; rm -rf -- "$p" || exit 6; else rm -f -- "$p" || exit 6; fi',
);
