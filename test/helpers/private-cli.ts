import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import type { Env } from "../../src/config.js";
import type { CliResult } from "./cli.js";

const ROOT = join(import.meta.dirname, "..", "..");

/**
 * A private build of the CLI for one test file: `dist/` is rebuilt by other
 * test runs at any moment, and a chunk vanishing mid-run is not what a test
 * should be about. Built one level below the package root so the built-in
 * profiles/ and extensions/ resolve as in dist/.
 */
export async function privateCli(): Promise<{ run(args: string[], env: Env, timeoutMs?: number): Promise<CliResult>; cleanup(): void }> {
  const outdir = join(ROOT, `.route-dist-${process.pid}`);
  await build({
    entryPoints: { cli: join(ROOT, "src/cli/main.ts") },
    outdir,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    external: ["better-sqlite3", "e2b", "@daytonaio/sdk", "modal"],
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: "warning",
  });
  const cli = join(outdir, "cli.js");
  return {
    run: (args, env, timeoutMs = 120_000) =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [cli, ...args], { env: env as NodeJS.ProcessEnv, stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => {
          stdout += d.toString();
        });
        child.stderr.on("data", (d: Buffer) => {
          stderr += d.toString();
        });
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
        child.on("error", reject);
        child.on("close", (code) => {
          clearTimeout(timer);
          resolve({ code: code ?? 137, stdout, stderr, json: <T>() => JSON.parse(stdout) as T });
        });
      }),
    cleanup: () => rmSync(outdir, { recursive: true, force: true }),
  };
}
