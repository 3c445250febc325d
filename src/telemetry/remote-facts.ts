import type { Transport } from "../transport/types.js";
import type { JsonObject } from "../types.js";

/**
 * Host facts in ONE session, from POSIX tools every Linux host has.
 * $1 workspace root, $2 container cli, then the compose argv. Prints key=value lines.
 */
const FACTS = `root="$1"; cli="$2"; shift 2
case "$root" in "~/"*) root="$HOME/\${root#"~/"}" ;; esac
echo "hostname=$(hostname 2>/dev/null)"
echo "os=$(uname -s)"
echo "kernel=$(uname -r)"
echo "cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc 2>/dev/null)"
awk '/^MemTotal:/{print "memoryKb="$2} /^MemAvailable:/{print "memoryAvailableKb="$2}' /proc/meminfo 2>/dev/null
d="$root"; while [ ! -d "$d" ] && [ "$d" != / ]; do d=$(dirname "$d"); done
df -Pk "$d" 2>/dev/null | awk 'NR==2{print "diskFreeKb="$4; print "diskMount="$6}'
echo "workspaceRootExists=$([ -d "$root" ] && echo true || echo false)"
if [ $# -gt 0 ]; then echo "compose=$("$@" version 2>&1 | grep -i 'compose.*version' | head -n1)"; fi
echo "runtime=$("$cli" --version 2>/dev/null | head -n1)"
echo "runtimeOk=$("$cli" ps -q >/dev/null 2>&1 && echo true || echo false)"
echo "uptime=$(cut -d' ' -f1 /proc/uptime 2>/dev/null)"`;

const NUMERIC = new Set(["cpus", "memoryKb", "memoryAvailableKb", "diskFreeKb", "uptime"]);

export interface FactsQuery {
  workspaceRoot: string;
  cli: string;
  compose: string[];
}

/** Kernel, cpus, memory, disk free under the workspace root, compose and runtime versions. */
export async function remoteFacts(t: Transport, q: FactsQuery, signal?: AbortSignal): Promise<JsonObject> {
  const res = await t.run(["sh", "-c", FACTS, "sh", q.workspaceRoot, q.cli, ...q.compose], { timeoutMs: 30_000, ...(signal ? { signal } : {}) });
  const facts: JsonObject = { workspaceRoot: q.workspaceRoot };
  for (const line of res.stdout.split("\n")) {
    const i = line.indexOf("=");
    if (i <= 0) continue;
    const key = line.slice(0, i);
    const value = line.slice(i + 1).trim();
    if (NUMERIC.has(key)) facts[key] = value === "" || Number.isNaN(Number(value)) ? null : Number(value);
    else if (value === "true" || value === "false") facts[key] = value === "true";
    else facts[key] = value || null;
  }
  const kb = (k: string) => (typeof facts[k] === "number" ? (facts[k] as number) * 1024 : null);
  facts.memoryBytes = kb("memoryKb");
  facts.memoryAvailableBytes = kb("memoryAvailableKb");
  facts.diskFreeBytes = kb("diskFreeKb");
  for (const k of ["memoryKb", "memoryAvailableKb", "diskFreeKb"]) delete facts[k];
  return facts;
}
