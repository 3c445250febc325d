import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import type { Readable } from "node:stream";
import { SandboxerError } from "../../errors.js";

export interface Started {
  pid: number;
  childPid: number;
}

/**
 * Start bwrap detached (own session, stdio to a log) so it outlives this process,
 * and read its --info-fd JSON to learn the pid of the sandbox's pid-1.
 */
export function startDetached(argv: string[], logFile: string, signal: AbortSignal): Promise<Started> {
  const log = openSync(logFile, "a", 0o600);
  const child = spawn(argv[0] as string, argv.slice(1), { detached: true, stdio: ["ignore", log, log, "pipe"] });
  closeSync(log);
  const info = child.stdio[3] as Readable;
  return new Promise<Started>((resolve, reject) => {
    let buf = "";
    let done = false;
    const finish = (err: Error | null, value?: Started) => {
      if (done) return;
      done = true;
      signal.removeEventListener("abort", onAbort);
      info.destroy();
      child.unref();
      if (err) reject(err);
      else resolve(value as Started);
    };
    const onAbort = () => finish(new SandboxerError("SBX_CANCELLED", "cancelled while starting bubblewrap"));
    signal.addEventListener("abort", onAbort, { once: true });
    info.on("data", (d: Buffer) => {
      buf += d.toString("utf8");
      try {
        const parsed = JSON.parse(buf) as { "child-pid"?: number };
        if (typeof parsed["child-pid"] === "number" && child.pid) finish(null, { pid: child.pid, childPid: parsed["child-pid"] });
      } catch {
        // Partial JSON: wait for more.
      }
    });
    child.on("error", (err: NodeJS.ErrnoException) => {
      finish(
        err.code === "ENOENT"
          ? new SandboxerError("SBX_DEPENDENCY_MISSING", "bwrap is not installed (Debian: apt-get install bubblewrap)", { cause: err })
          : new SandboxerError("SBX_PROVISION_FAILED", `bwrap: ${err.message}`, { cause: err }),
      );
    });
    child.on("exit", (code) => {
      let out = "";
      try {
        out = readFileSync(logFile, "utf8").trim().split("\n").slice(-5).join(" | ");
      } catch {}
      finish(new SandboxerError("SBX_PROVISION_FAILED", `bwrap exited (${code}) before the sandbox started: ${out || "no output"}`));
    });
  });
}
