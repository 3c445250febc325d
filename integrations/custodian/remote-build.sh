#!/bin/sh
# remote-build.sh MODE PROJECT REPO VM BUILD_CMD - the body of remote-build.mk.
#   MODE=sandboxer: a fresh sand-boxer workspace per run (profile.vm-haskell-build)
#   MODE=build:     a Packer build of TEMPLATE (profile.vm-packer-build); REPO and BUILD_CMD unused
#   MODE=legacy:    the old shared rsync target /build/PROJECT (deprecated)
# Environment: SANDBOXER (command), PROFILE, IMAGE_PROFILE, KEEP=1, SANDBOXER_SSH_CONFIG (ssh -F);
#   build mode: TEMPLATE, VM_NAME, PACKER_VARS (NAME=VALUE words), PACKER_VAR_FILE.
set -eu
mode=$1 project=$2 repo=$3 vm=$4 build_cmd=$5
sandboxer=${SANDBOXER:-sandboxer}
profile=${PROFILE:-profile.vm-haskell-build}

ssh_vm() { # ssh_vm PORT REMOTE_COMMAND
  if [ -n "${SANDBOXER_SSH_CONFIG:-}" ]; then set -- -F "$SANDBOXER_SSH_CONFIG" ${1:+-p "$1"} "$vm" "$2"; else set -- ${1:+-p "$1"} "$vm" "$2"; fi
  ssh -o BatchMode=yes "$@"
}

# Single-quote a string for the remote shell.
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

if [ "$mode" = legacy ]; then
  echo "remote-build-rsync: DEPRECATED - the shared /build/$project target is replaced by 'make remote-build'" >&2
  echo "  (an isolated sand-boxer workspace per run; see docs/migration-build-machines.md)" >&2
  rsh="ssh -o BatchMode=yes${SANDBOXER_SSH_CONFIG:+ -F $SANDBOXER_SSH_CONFIG}"
  rsync -a --delete -e "$rsh" -- "${repo%/}/" "$vm:/build/$project/"
  ssh_vm "" "cd $(q "/build/$project") && $build_cmd"
  exit $?
fi

if [ "$mode" = build ]; then
  [ -n "${TEMPLATE:-}" ] || { echo "remote-build: MODE=build needs TEMPLATE=<packer template directory or file>" >&2; exit 2; }
  set -f # PACKER_VARS words are data, never globs
  set -- --input "packer_template=$TEMPLATE"
  [ -z "${VM_NAME:-}" ] || set -- "$@" --input "vm_name=$VM_NAME"
  [ -z "${PACKER_VAR_FILE:-}" ] || set -- "$@" --input "packer_var_file=$PACKER_VAR_FILE"
  for kv in ${PACKER_VARS:-}; do
    case "$kv" in
      [a-z]*=*) set -- "$@" --input "packer_var_$kv" ;;
      *) echo "remote-build: PACKER_VARS word '$kv' is not NAME=VALUE" >&2; exit 2 ;;
    esac
  done
  echo "remote-build: packer build of $TEMPLATE (follow it: $sandboxer events --follow)" >&2
  json=$("$sandboxer" create --profile "${IMAGE_PROFILE:-profile.vm-packer-build}" "$@" --actor atm --project "$project" --json)
  fields=$(printf '%s' "$json" | node -e '
    const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const lines = [r.id];
    for (const a of r.reachability.artifacts ?? []) lines.push(`artifact ${a.build}: ${a.files.length ? a.files.join(" ") : a.description}`);
    process.stdout.write(lines.join("\n"));')
  id=$(printf '%s\n' "$fields" | sed -n 1p)
  printf '%s\n' "$fields" | sed -n '2,$p' | sed 's/^/remote-build: /'
  if [ -n "${KEEP:-}" ]; then
    echo "remote-build: kept record $id (sandboxer destroy $id forgets it; the image stays either way)" >&2
  else
    "$sandboxer" destroy "$id" >/dev/null && echo "remote-build: build $id done; record closed, image kept" >&2
  fi
  exit 0
fi

json=$("$sandboxer" create --profile "$profile" --input vm="$vm" --input repo="$repo" \
  --actor atm --project "$project" --json)
# sandboxer runs on node, so node is here to read its JSON.
fields=$(printf '%s' "$json" | node -e '
  const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
  process.stdout.write([r.id, r.reachability.remote_dir ?? r.reachability.workspace, r.reachability.port ?? ""].join("\n"));')
id=$(printf '%s\n' "$fields" | sed -n 1p)
ws=$(printf '%s\n' "$fields" | sed -n 2p)
port=$(printf '%s\n' "$fields" | sed -n 3p)
echo "remote-build: $id on $vm:$ws" >&2

cleanup() {
  if [ -n "${KEEP:-}" ]; then
    echo "remote-build: kept $id (sandboxer destroy $id when done)" >&2
  else
    "$sandboxer" destroy "$id" >/dev/null && echo "remote-build: destroyed $id" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ssh_vm "$port" "cd $(q "$ws") && $build_cmd"
