import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const SCRIPT = join(import.meta.dirname, "..", "integrations", "custodian", "verify-remote-build.sh");

describe("integrations/custodian remote-build shim", () => {
  it("verify-remote-build.sh passes against a loopback VM (create, build over SSH, destroy, legacy notice)", async () => {
    // Async: a blocking spawnSync would stall the test worker's RPC for the whole run.
    const r = await promisify(execFile)("sh", [SCRIPT], { encoding: "utf8", timeout: 280_000, env: { ...process.env, SANDBOXER_URL: "" } }).catch(
      (err: { stdout?: string; stderr?: string; code?: number }) => ({ stdout: err.stdout ?? "", stderr: `${err.stderr ?? ""} (exit ${err.code})` }),
    );
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^verify-remote-build: OK/);
  }, 300_000);
});
