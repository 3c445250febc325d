import { HOST_VAR_PREFIXES, HOST_VARS } from "./interpolate.js";

/**
 * Remote steps as FIXED shell text: every value (id, paths, compose argv)
 * arrives as a positional argument, quoted once by the transport's shellJoin.
 * Each step is one SSH session (`sh -c SCRIPT sh ARGS...`), so a create costs
 * one copy-and-up session + a few status polls, all over one multiplexed connection.
 */

/**
 * $1 workspace root (ROOT_FN), $2 sandbox id, $3 override file (relative to the
 * workspace), $4 container cli, $5 flavor, $6 "tar" when stdin carries the
 * stack as a tar stream (a fresh create) or "-" (a restore: the workspace is
 * already there), $7 the override YAML, then the compose argv. Copy and `up`
 * share ONE session: on a host whose sessions start a login shell that is half a second saved per create.
 * Exit 90: the stack could not be unpacked (nothing was started); 91: the root
 * was refused (ROOT_FN). It prints WS_MARKER and the workspace first. After a
 * successful `up` it prints the stack's status after a marker line, saving
 * waitReady a session.
 */
export const PS_MARKER = "@@sandboxer-ps@@";
/** First line of UP's and PREPARE's stdout: the workspace (or root) as the host resolved it. */
export const WS_MARKER = "@@sandboxer-ws@@";

/**
 * Shell function `sbx_root SPEC create|check`: sets $root to the workspace root,
 * a leading `~/` meaning the SSH user's home on the host. With `create` a
 * missing root is made with mode 0700. A root owned by another user, or
 * writable by others, is refused (return 91, the reason on stderr): whoever
 * controls it could plant or swap the workspaces we start stacks from.
 */
const ROOT_FN = `sbx_root() {
  case "$1" in "~") r="$HOME" ;; "~/"*) r="$HOME/\${1#"~/"}" ;; *) r="$1" ;; esac
  if [ ! -e "$r" ] && [ "$2" = create ]; then
    mkdir -p -- "$(dirname -- "$r")" && { mkdir -m 0700 -- "$r" 2>/dev/null || [ -d "$r" ]; } || { echo "cannot create the workspace root $r" >&2; return 90; }
  fi
  if [ -e "$r" ]; then
    [ -d "$r" ] || { echo "workspace root $r is not a directory" >&2; return 91; }
    info=$(ls -ldnL -- "$r"); perms=\${info%% *}; uid=$(printf '%s\\n' "$info" | awk '{print $3}')
    if [ "$uid" != "$(id -u)" ]; then echo "workspace root $r is owned by uid $uid, not by $(id -un 2>/dev/null) (uid $(id -u)): refusing to use it" >&2; return 91; fi
    case "$perms" in ?????w*|????????w*) echo "workspace root $r is writable by other users ($perms): refusing to use it (chmod go-w)" >&2; return 91 ;; esac
  fi
  root="$r"
}`;

/** Variables compose keeps from the host; everything else is unset before `up` (see interpolate.ts). */
const KEEP_ENV = `for v in $(env | sed -n 's/^\\([A-Za-z_][A-Za-z0-9_]*\\)=.*/\\1/p'); do
  case "$v" in ${HOST_VARS.join("|")}|${HOST_VAR_PREFIXES.map((p) => `${p}*`).join("|")}) ;; *) command unset "$v" 2>/dev/null || : ;; esac
done`;

/** $1 root, $2 sandbox id: resolve (and create, 0700) the root, create the workspace, print it after WS_MARKER. */
export const PREPARE = `${ROOT_FN}
sbx_root "$1" create || exit $?
mkdir -p -- "$root/$2/.sandboxer" || exit 90
echo "${WS_MARKER}$root/$2"`;

export const UP = `set -e
${ROOT_FN}
rootspec="$1"; id="$2"; ovr="$3"; cli="$4"; flavor="$5"; mode="$6"; yaml="$7"; shift 7
rc=0; sbx_root "$rootspec" create || rc=$?
[ $rc -eq 0 ] || exit $rc
ws="$root/$id"; ovr="$ws/$ovr"; pidf="$ws/.sandboxer/up.pid"
echo "${WS_MARKER}$ws"
mkdir -p "$ws/.sandboxer" || exit 90
if [ "$mode" = tar ]; then
  if ! tar -C "$ws" -xf -; then echo "unpacking the stack into $ws failed" >&2; exit 90; fi
  # GNU tar may stop before the stream's zero padding: drain it, so nothing is left for compose to read.
  cat > /dev/null
fi
printf '%s' "$yaml" > "$ovr"
cd "$ws"
# Restored from a snapshot: recreate the stack's named volumes before \`up\` uses them.
if [ "$flavor" = podman ] && [ -d .sandboxer/volumes ]; then
  for f in .sandboxer/volumes/*.tar; do
    [ -e "$f" ] || continue
    v="\${id}_$(basename "$f" .tar)"
    "$cli" volume create --label "io.podman.compose.project=$id" --label "com.docker.compose.project=$id" "$v" >/dev/null
    "$cli" volume import "$v" "$f"
  done
  rm -rf .sandboxer/volumes
fi
echo $$ > "$pidf"
set +e
# The policy interpolated the stack with its .env alone: compose gets no other host variables to read.
( ${KEEP_ENV}
exec "$@" < /dev/null )
rc=$?
rm -f "$pidf"
if [ $rc -eq 0 ]; then
  echo "${PS_MARKER}"
  if [ "$flavor" = podman ]; then
    "$cli" ps -a --filter "label=sandboxer.id=$id" --format json
  else
    "$cli" ps -a --filter "label=sandboxer.id=$id" --format '{{json .}}'
  fi
fi
exit $rc`;

/**
 * $1 workspace, $2 container cli, $3 sandbox id, $4 flavor: export the stack's
 * named volumes into the workspace (.sandboxer/volumes/<name>.tar) so the
 * snapshot archive carries them. podman only: docker has no \`volume import\`.
 */
export const EXPORT_VOLUMES = `ws="$1"; cli="$2"; id="$3"; flavor="$4"
d="$ws/.sandboxer/volumes"
rm -rf -- "$d"
[ "$flavor" = podman ] || exit 0
mkdir -p -- "$d" || exit 3
for v in $("$cli" volume ls -q --filter "label=io.podman.compose.project=$id"); do
  "$cli" volume export "$v" > "$d/\${v#"\${id}_"}.tar" || exit 4
done
exit 0`;

/**
 * $1 container cli, $2 sandbox id, $3 flavor, then container names whose
 * healthcheck to run first: podman runs healthchecks from systemd timers, which
 * hosts without systemd lack, so we run them ourselves while waiting.
 */
export const STATUS = `cli="$1"; id="$2"; flavor="$3"; shift 3
for c in "$@"; do "$cli" healthcheck run "$c" >/dev/null 2>&1 || true; done
if [ "$flavor" = podman ]; then
  "$cli" ps -a --filter "label=sandboxer.id=$id" --format json
else
  "$cli" ps -a --filter "label=sandboxer.id=$id" --format '{{json .}}'
fi`;

/**
 * $1 cli, $2 id, $3 lines: every container's state and the tail of its log, for
 * failure messages; a container with no output says so (and why, if it never ran).
 */
export const LOGS = `cli="$1"; id="$2"; n="$3"
for c in $("$cli" ps -aq --filter "label=sandboxer.id=$id"); do
  name=$("$cli" inspect --format '{{.Name}}' "$c" 2>/dev/null)
  state=$("$cli" inspect --format '{{.State.Status}}' "$c" 2>/dev/null)
  echo "--- $name ($state)"
  out=$("$cli" logs --tail "$n" "$c" 2>&1)
  if [ -n "$out" ]; then printf '%s\\n' "$out"
  elif [ "$state" = created ]; then echo "(no output: the container was created but never started)"
  else echo "(no output)"; fi
done`;

/**
 * $1 id, $2 workspace, $3 cli, $4 flavor, $5 stop timeout. Idempotent: stops an
 * interrupted \`up\` (its process group, if the pid file still names it), stops
 * (with the grace period) and removes every container labelled with the id or
 * in the compose project named by it, the project's networks and volumes, and
 * the workspace. It never runs \`compose down\`: that would read the
 * workspace's compose files, which a container with a writable bind of the
 * stack could have rewritten (to name another project's volume).
 * Exits 3 if a labelled container survives. A `~/` workspace (a handle
 * checkpointed before the root was resolved) means the SSH user's home.
 */
export const TEARDOWN = `id="$1"; ws="$2"; cli="$3"; flavor="$4"; t="$5"
${ROOT_FN}
# A workspace under a root we do not own is not ours to read or remove: leave it, clean up by label.
if sbx_root "$(dirname -- "$ws")" check 2>/dev/null; then ws="$root/$(basename -- "$ws")"; else ws=/nonexistent/sandboxer; fi
pidf="$ws/.sandboxer/up.pid"
if [ -f "$pidf" ]; then
  pg=$(cat "$pidf")
  if [ -n "$pg" ] && grep -q "$id" "/proc/$pg/cmdline" 2>/dev/null; then
    kill -KILL -- "-$pg" 2>/dev/null || kill -KILL "$pg" 2>/dev/null
    sleep 1
  fi
fi
ids=$( { "$cli" ps -aq --filter "label=sandboxer.id=$id"; "$cli" ps -aq --filter "label=com.docker.compose.project=$id"; } 2>/dev/null | sort -u)
if [ -n "$ids" ]; then
  "$cli" stop -t "$t" $ids >/dev/null 2>&1
  if [ "$flavor" = podman ]; then "$cli" rm -f -v -t 0 $ids >/dev/null 2>&1; else "$cli" rm -f -v $ids >/dev/null 2>&1; fi
fi
for key in com.docker.compose.project io.podman.compose.project; do
  for n in $("$cli" network ls -q --filter "label=$key=$id" 2>/dev/null); do "$cli" network rm -f "$n" >/dev/null 2>&1; done
  for v in $("$cli" volume ls -q --filter "label=$key=$id" 2>/dev/null); do "$cli" volume rm -f "$v" >/dev/null 2>&1; done
done
case "$ws" in */sbx-*) rm -rf -- "$ws" ;; esac
left=$("$cli" ps -aq --filter "label=sandboxer.id=$id")
if [ -n "$left" ]; then echo "containers still labelled $id: $left" >&2; exit 3; fi
exit 0`;

/** $1 cli, $2 workspace root: labelled containers, then sbx-* workspaces, one per line, tab-separated. */
export const LIST = `cli="$1"
${ROOT_FN}
sbx_root "$2" check 2>/dev/null || root=/nonexistent/sandboxer
"$cli" ps -a --filter label=sandboxer.id --format '{{.ID}}\t{{.Names}}\t{{.Labels}}' 2>/dev/null | while IFS=$(printf '\\t') read -r cid name labels; do
  sid=$(printf '%s' "$labels" | tr ' ,[]{}' '\\n\\n\\n\\n\\n\\n' | sed -n 's/^sandboxer.id[=:]//p' | head -n1)
  printf 'container\\t%s\\t%s\\t%s\\n' "$sid" "$cid" "$name"
done
if [ -d "$root" ]; then
  for d in "$root"/sbx-*; do [ -d "$d" ] && printf 'directory\\t%s\\t%s\\t-\\n' "$(basename "$d")" "$d"; done
fi
exit 0`;
