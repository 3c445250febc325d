#!/usr/bin/env bash
# `make smoke-remote`: the canary and one compose create/destroy against
# $SANDBOXER_HOST, an SSH host from the inventory (`sandboxer hosts list`).
# The compose stack is one busybox service; set SANDBOXER_SMOKE_IMAGE to a
# fully qualified image the host already has (hosts without registry access).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
sbx="$here/bin/sandboxer"
host="${SANDBOXER_HOST:?set SANDBOXER_HOST to an SSH host from: sandboxer hosts list}"
image="${SANDBOXER_SMOKE_IMAGE:-docker.io/library/busybox:stable}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s);console.log(process.argv[1].split(".").reduce((o,k)=>o?.[k],v)??"")})' "$1"; }

echo "== inspect host $host"
"$sbx" inspect host "$host"

echo "== canary on $host"
canary=$("$sbx" create --profile profile.sandbox-canary --host "$host" --json | json id)
"$sbx" get "$canary"
"$sbx" destroy "$canary" >/dev/null
echo "canary $canary: ok"

echo "== compose create/destroy on $host ($image)"
cat > "$work/compose.yaml" <<YAML
services:
  smoke:
    image: $image
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
YAML
start=$(date +%s.%N)
sb=$("$sbx" create --profile profile.compose-e2e --host "$host" --input "repo=$work" --json | json id)
ready=$(date +%s.%N)
"$sbx" reachability show "$sb" || "$sbx" get "$sb"
"$sbx" destroy "$sb" >/dev/null
awk -v s="$start" -v r="$ready" -v id="$sb" 'BEGIN { printf "compose %s: ready in %.1fs, destroyed\n", id, r - s }'

echo "== stale on $host"
"$sbx" inspect stale --host "$host"
