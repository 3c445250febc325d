#!/usr/bin/env bash
# `make smoke-remote`: the canary and one compose create/destroy against
# $SANDBOXER_HOST, an SSH host from the inventory (`sandboxer hosts list`).
# The compose stack is one busybox service; set SANDBOXER_SMOKE_IMAGE to a
# fully qualified image the host already has (hosts without registry access).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
sbx="${SANDBOXER_BIN:-$here/bin/sandboxer}"
host="${SANDBOXER_HOST:?set SANDBOXER_HOST to an SSH host from: sandboxer hosts list}"
image="${SANDBOXER_SMOKE_IMAGE:-docker.io/library/busybox:stable}"
[[ "$host" =~ ^[a-z0-9][a-z0-9_.-]*$ ]] || { echo "SANDBOXER_HOST: '$host' is not a host name" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A smoke profile placed on exactly this host (profile.compose-e2e only allows its placement hosts).
mkdir -p "$work/profiles" "$work/repo"
cat > "$work/profiles/profile.compose-smoke.yaml" <<YAML
id: profile.compose-smoke
version: 1
description: make smoke-remote - one compose create/destroy on $host
extension: ext.compose-ssh
placement: { hosts: [$host], fallback: false }
ttl: { default: 15m, max: 1h }
timeout: 5m
settings: { stopTimeoutSeconds: 2 }
inputs:
  repo: { type: path }
YAML
export SANDBOXER_PROFILES_DIR="$work/profiles"
json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s);console.log(process.argv[1].split(".").reduce((o,k)=>o?.[k],v)??"")})' "$1"; }

echo "== inspect host $host"
"$sbx" inspect host "$host"

echo "== canary on $host"
canary=$("$sbx" create --profile profile.sandbox-canary --host "$host" --json | json id)
"$sbx" get "$canary"
"$sbx" destroy "$canary" >/dev/null
echo "canary $canary: ok"

echo "== compose create/destroy on $host ($image)"
cat > "$work/repo/compose.yaml" <<YAML
services:
  smoke:
    image: $image
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
YAML
start=$(date +%s.%N)
sb=$("$sbx" create --profile profile.compose-smoke --input "repo=$work/repo" --json | json id)
ready=$(date +%s.%N)
"$sbx" reachability show "$sb" || "$sbx" get "$sb"
"$sbx" destroy "$sb" >/dev/null
awk -v s="$start" -v r="$ready" -v id="$sb" 'BEGIN { printf "compose %s: ready in %.1fs, destroyed\n", id, r - s }'

echo "== stale on $host"
"$sbx" inspect stale --host "$host"
