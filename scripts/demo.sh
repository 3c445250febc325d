#!/usr/bin/env bash
# make demo: a sandbox created and ready, listed, a command run inside it, destroyed.
# Uses a throwaway SANDBOXER_HOME unless you set one.
set -euo pipefail
cd "$(dirname "$0")/.."
export SANDBOXER_HOME="${SANDBOXER_HOME:-$(mktemp -d /tmp/sandboxer-demo.XXXXXX)}"
sbx=./bin/sandboxer
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step sandboxer create --profile profile.local --project demo
$sbx create --profile profile.local --project demo
id=$($sbx list --json --project demo | node -e 'const l=JSON.parse(require("fs").readFileSync(0));console.log(l[l.length-1].id)')

step sandboxer list
$sbx list

step sandboxer exec "$id" -- sh -c 'hostname; echo hello > /workspace/greeting; cat /workspace/greeting; ls /; cat /proc/net/dev'
$sbx exec "$id" -- sh -c 'hostname; echo hello > /workspace/greeting; cat /workspace/greeting; ls /; cat /proc/net/dev'

step sandboxer destroy "$id"
$sbx destroy "$id"

step sandboxer events "$id"
$sbx events "$id"
printf '\nstate kept in %s\n' "$SANDBOXER_HOME"
