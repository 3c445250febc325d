import { statfsSync } from "node:fs";
import { cpus, freemem, hostname, release, totalmem, type } from "node:os";
import type { JsonObject } from "../types.js";

/** Basic facts about this machine, recorded by the canary profile. */
export function localHostFacts(diskPath: string): JsonObject {
  let diskFreeBytes: number | null = null;
  try {
    const s = statfsSync(diskPath);
    diskFreeBytes = s.bavail * s.bsize;
  } catch {
    diskFreeBytes = null;
  }
  return {
    hostname: hostname(),
    os: type(),
    kernel: release(),
    cpus: cpus().length,
    memoryBytes: totalmem(),
    memoryFreeBytes: freemem(),
    diskPath,
    diskFreeBytes,
  };
}
