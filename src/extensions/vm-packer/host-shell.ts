/**
 * Fixed shell scripts run on the placement host or the VM. User data never
 * enters the script text: it is passed as positional arguments ("$1"...), and
 * the transport quotes every argv element once (src/transport/quote.ts).
 */
import type { RunResult } from "../../transport/types.js";

/** Prints `dir` then the template files in it, `file`, or `missing`. */
export const PROBE_TEMPLATE =
  'if [ -d "$1" ]; then echo dir; for f in "$1"/*.pkr.hcl "$1"/*.pkr.json; do [ -f "$f" ] && echo "$f"; done; elif [ -f "$1" ]; then echo file; else echo missing; fi; exit 0';

/** sh -c SCRIPT with positional arguments; `sh` fills $0. */
export function script(body: string, ...args: string[]): string[] {
  return ["sh", "-c", body, "sh", ...args];
}

/** A command that is not there exits 127 from a shell (remote) or ENOENT locally (thrown by the transport). */
export function missingCommand(res: RunResult): boolean {
  return res.code === 127 || /(^|: )(\S+: )?(command )?not found/m.test(res.stderr);
}
