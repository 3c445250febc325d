import { readdirSync, readlinkSync } from "node:fs";
import { SandboxerError } from "../../src/errors.js";

/** Await a promise that must reject with a SandboxerError, and return it. */
export async function failure(p: Promise<unknown>): Promise<SandboxerError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof SandboxerError) return err;
    throw err;
  }
  throw new Error("expected a failure");
}

/** Processes whose working directory is inside `dir` (packer, its plugins, provisioner scripts). */
export function processesIn(dir: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readlinkSync(`/proc/${p}/cwd`).startsWith(dir)) out.push(Number(p));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}
