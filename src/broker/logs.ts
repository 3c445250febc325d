import { closeSync, existsSync, fstatSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import { getRow } from "./destroy.js";
import type { Runtime } from "./runtime.js";

/**
 * The last `maxBytes` of a sandbox's server-side log: a Packer build's
 * (docs/migration-build-machines.md: `$SANDBOXER_HOME/logs/vm-packer/<id>.log`).
 * The record names it once ready; while the build runs it is found by id.
 * null when there is none. It names server paths: for operators only.
 */
export async function logTail(rt: Runtime, id: string, maxBytes = 8192): Promise<string | null> {
  const sb = await getRow(rt, id);
  const named = sb.reachability?.log;
  const file = typeof named === "string" ? named : join(rt.paths.home, "logs", "vm-packer", `${sb.id}.log`);
  if (!existsSync(file)) return null;
  const fd = openSync(file, "r");
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, maxBytes);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    const text = buf.toString("utf8");
    // Start at a whole line when the tail was cut.
    return len < size ? text.slice(text.indexOf("\n") + 1) : text;
  } finally {
    closeSync(fd);
  }
}
