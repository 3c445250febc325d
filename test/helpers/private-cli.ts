/**
 * A private build of the CLI for one test file: the shared dist/ is
 * rebuilt (and cleared) by every test run's global setup, which would pull
 * chunks from under a CLI started minutes earlier. The build lives in a temp
 * dir that links the package's profiles, registrations and node_modules.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import type { Env } from "../../src/config.js";
import { type CliResult, collect } from "./cli.js";

const ROOT = resolve(import.meta.dirname, "..", "..");

export interface PrivateCli {
  /** The bundle's entry, for tools that spawn the CLI themselves (`node PATH args...`). */
  path: string;
  /** `opts` may be a bare timeout in ms (the first version of this helper took that). */
  run(args: string[], env: Env, opts?: { timeoutMs?: number } | number): Promise<CliResult>;
  spawn(args: string[], env: Env): ReturnType<typeof spawn>;
  cleanup(): void;
}

export async function buildPrivateCli(): Promise<PrivateCli> {
  const dir = mkdtempSync(join(tmpdir(), "sbx-cli-"));
  for (const name of ["profiles", "extensions", "node_modules", "package.json"]) symlinkSync(join(ROOT, name), join(dir, name));
  mkdirSync(join(dir, "dist"));
  await build({
    entryPoints: { cli: join(ROOT, "src/cli/main.ts") },
    outdir: join(dir, "dist"),
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    packages: "external",
    logLevel: "error",
  });
  const cli = join(dir, "dist", "cli.js");
  const start = (args: string[], env: Env) => spawn(process.execPath, [cli, ...args], { env: env as NodeJS.ProcessEnv, stdio: ["pipe", "pipe", "pipe"] });
  return {
    path: cli,
    spawn: start,
    run(args, env, raw = {}) {
      const opts = typeof raw === "number" ? { timeoutMs: raw } : raw;
      return collect(start(args, env), opts.timeoutMs ?? 120_000);
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The name the first version of this helper exported. */
export const privateCli = buildPrivateCli;
