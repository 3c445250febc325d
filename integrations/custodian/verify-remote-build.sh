#!/bin/sh
# verify-remote-build.sh - prove remote-build.mk works, against a loopback "VM":
# a private OpenSSH sshd on 127.0.0.1 (a free non-22 port, like a reverse
# tunnel), reached by an alias in a private ssh_config, with a port-registry.yml
# slot for it and a temporary workspace root standing in for /build.
#
#   integrations/custodian/verify-remote-build.sh      (from the repo, after `make build`)
#
# Exit 0 = the shim created a workspace, built in it over SSH, and removed it;
# MODE=build ran a Packer build and listed its artifact; the legacy target
# printed its deprecation notice. Everything it started or
# wrote is removed on exit.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
SANDBOXER=${SANDBOXER:-$repo_root/bin/sandboxer}
[ -x "$SANDBOXER" ] || { echo "verify: $SANDBOXER missing (run: make build)" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sbx-verify-rb-XXXXXX")
sshd_pid=""
cleanup() {
  [ -n "$sshd_pid" ] && kill "$sshd_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { echo "verify-remote-build: FAIL: $*" >&2; exit 1; }

alias=sbx-verify-vm
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
mkdir -p /run/sshd "$tmp/build" "$tmp/home"
ssh-keygen -q -t ed25519 -N "" -f "$tmp/host_key"
ssh-keygen -q -t ed25519 -N "" -f "$tmp/client_key"
cp "$tmp/client_key.pub" "$tmp/authorized_keys"
printf '%s %s\n' "$alias" "$(cut -d' ' -f1,2 "$tmp/host_key.pub")" > "$tmp/known_hosts"
cat > "$tmp/sshd_config" <<CFG
Port $port
ListenAddress 127.0.0.1
HostKey $tmp/host_key
PidFile $tmp/sshd.pid
AuthorizedKeysFile $tmp/authorized_keys
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
CFG
/usr/sbin/sshd -D -f "$tmp/sshd_config" -E "$tmp/sshd.log" &
sshd_pid=$!
cat > "$tmp/ssh_config" <<CFG
Host $alias
  HostName 127.0.0.1
  Port $port
  User $(id -un)
  IdentityFile $tmp/client_key
  IdentitiesOnly yes
  HostKeyAlias $alias
  UserKnownHostsFile $tmp/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
  LogLevel ERROR
CFG
cat > "$tmp/port-registry.yml" <<CFG
bridge: { host: ops-bridge.example, user: tunnel }
range: [1, 65535]
slots:
  - { slot: 2, port: $port, vm: $alias, workspaceRoot: $tmp/build }
CFG
for _ in $(seq 1 100); do ssh -F "$tmp/ssh_config" "$alias" true 2>/dev/null && break; sleep 0.1; done
ssh -F "$tmp/ssh_config" "$alias" true || fail "loopback sshd did not come up: $(tail -3 "$tmp/sshd.log")"

# The project: a Makefile whose build writes a file and prints where it ran.
mkdir -p "$tmp/project"
printf 'build:\n\t@echo "built in $$(pwd)" && echo ok > build-output.txt\n' > "$tmp/project/Makefile"

export SANDBOXER_HOME="$tmp/home" SANDBOXER_CONFIG="$tmp/config.yaml" SANDBOXER_SSH_CONFIG="$tmp/ssh_config" \
  SANDBOXER_PORT_REGISTRY="$tmp/port-registry.yml" SANDBOXER_STATE_HUB_URL=""
out=$(make --no-print-directory -f "$here/remote-build.mk" remote-build SANDBOXER="$SANDBOXER" \
  PROJECT=demo REPO="$tmp/project" VM="$alias" BUILD_CMD="make build" 2>"$tmp/err") \
  || fail "make remote-build exited $?: $(cat "$tmp/err")"
echo "$out" | grep -q "^built in $tmp/build/sbx-[a-z2-7]\{12\}$" || fail "build did not run in a sandbox workspace: $out"
grep -q "remote-build: destroyed sbx-" "$tmp/err" || fail "workspace not destroyed: $(cat "$tmp/err")"
[ -z "$(ls -A "$tmp/build")" ] || fail "workspace left behind: $(ls "$tmp/build")"
state=$("$SANDBOXER" list --all --json | node -e 'const r=JSON.parse(require("fs").readFileSync(0,"utf8")); console.log(r.map(s=>`${s.state}/${s.actor}/${s.project}`).join(","))')
[ "$state" = "destroyed/atm/demo" ] || fail "unexpected records: $state"

# A failing build fails make, and still removes its workspace.
if make --no-print-directory -f "$here/remote-build.mk" remote-build SANDBOXER="$SANDBOXER" \
  PROJECT=demo REPO="$tmp/project" VM="$alias" BUILD_CMD="false" >/dev/null 2>"$tmp/err"; then
  fail "a failing BUILD_CMD did not fail make"
fi
[ -z "$(ls -A "$tmp/build")" ] || fail "failed build left its workspace: $(ls "$tmp/build")"

# Build mode: the shim runs a Packer build (Debian's packer, a null + file builder, no VM needed).
mkdir -p "$tmp/image"
cat > "$tmp/image/image.pkr.hcl" <<'HCL'
variable "vm_name" {
  type = string
}
variable "greeting" {
  type    = string
  default = "hello"
}
source "file" "image" {
  content = "${var.greeting} from ${var.vm_name}"
  target  = "out/${var.vm_name}.img"
}
build {
  sources = ["source.file.image"]
}
HCL
out=$(make --no-print-directory -f "$here/remote-build.mk" remote-build MODE=build SANDBOXER="$SANDBOXER" \
  PROJECT=demo TEMPLATE="$tmp/image" VM_NAME=demo-vm PACKER_VARS="greeting=hi" 2>"$tmp/err") \
  || fail "make remote-build MODE=build exited $?: $(cat "$tmp/err")"
echo "$out" | grep -qx "remote-build: artifact file.image: $tmp/image/out/demo-vm.img" || fail "no artifact line: $out"
[ "$(cat "$tmp/image/out/demo-vm.img")" = "hi from demo-vm" ] || fail "image content: $(cat "$tmp/image/out/demo-vm.img")"
grep -q "record closed, image kept" "$tmp/err" || fail "build record not closed: $(cat "$tmp/err")"
builds=$("$SANDBOXER" list --all --profile profile.vm-packer-build --json | node -e 'const r=JSON.parse(require("fs").readFileSync(0,"utf8")); console.log(r.map(s=>`${s.state}/${s.actor}/${s.project}/${s.inputs.vm_name}`).join(","))')
[ "$builds" = "destroyed/atm/demo/demo-vm" ] || fail "unexpected build records: $builds"
# A broken template fails make, with Packer's error.
printf 'build {\n  sources = ["source.file.missing"]\n}\n' > "$tmp/image/image.pkr.hcl"
if make --no-print-directory -f "$here/remote-build.mk" remote-build MODE=build SANDBOXER="$SANDBOXER" \
  PROJECT=demo TEMPLATE="$tmp/image" >/dev/null 2>"$tmp/err"; then
  fail "a broken template did not fail make"
fi
grep -q "SBX_INPUT_INVALID" "$tmp/err" || fail "no Packer error for a broken template: $(cat "$tmp/err")"
# MODE is checked; TEMPLATE is required in build mode.
make --no-print-directory -f "$here/remote-build.mk" remote-build MODE=nope >/dev/null 2>&1 && fail "MODE=nope accepted"
make --no-print-directory -f "$here/remote-build.mk" remote-build MODE=build SANDBOXER="$SANDBOXER" >/dev/null 2>"$tmp/err" && fail "MODE=build without TEMPLATE accepted"
grep -q "needs TEMPLATE" "$tmp/err" || fail "no TEMPLATE message: $(cat "$tmp/err")"

# The legacy path still works, and says it is deprecated.
made_build=""
[ -d /build ] || { mkdir /build 2>/dev/null && made_build=1; } || true
if [ -w /build ]; then
  legacy_dir=/build/sbx-verify-legacy-$$
  make --no-print-directory -f "$here/remote-build.mk" remote-build-rsync SANDBOXER="$SANDBOXER" \
    PROJECT="$(basename "$legacy_dir")" REPO="$tmp/project" VM="$alias" BUILD_CMD="make build" >/dev/null 2>"$tmp/err" \
    || { rm -rf "$legacy_dir"; fail "legacy remote-build-rsync failed: $(cat "$tmp/err")"; }
  rm -rf "$legacy_dir"
  [ -z "$made_build" ] || rmdir /build 2>/dev/null || true
  grep -q "DEPRECATED" "$tmp/err" || fail "legacy path printed no deprecation notice"
fi
echo "verify-remote-build: OK (workspace created, built over SSH on port $port, destroyed; MODE=build ran packer, artifact listed, record closed; legacy path deprecated)"
