/**
 * `make bench`: runs every bench/*.bench.ts in turn (or those matching the
 * arguments). Each prints its own rows (figures and ratios against the raw
 * tool) and may write a JSON summary to $BENCH_OUT (.bench/<file>.json);
 * what it prints is also recorded, with the date and the machine, in
 * bench/RESULTS.md (bench/results.ts), the one place the docs link for figures.
 * Benchmarks never assert on time.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { type BenchRun, machineNow, mergeResults } from "./results.js";

const dir = import.meta.dirname;
const only = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => !only.length || only.some((o) => f.includes(o)))
  .sort();

/** Run one bench with its output shown as it comes and kept. */
function runBench(file: string, out: string): Promise<{ status: number | null; text: string }> {
  return new Promise((resolve) => {
    let text = "";
    const child = spawn("npx", ["tsx", join(dir, file)], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, BENCH_OUT: out } });
    child.stdout.on("data", (d: Buffer) => {
      process.stdout.write(d);
      text += d.toString();
    });
    child.on("close", (status) => resolve({ status, text }));
  });
}

const results: Record<string, unknown> = {};
const runs: BenchRun[] = [];
mkdirSync(join(dir, "..", ".bench"), { recursive: true });
for (const f of files) {
  process.stdout.write(`\n=== ${f}\n`);
  const out = join(dir, "..", ".bench", `${f}.json`);
  const loadBefore = loadavg()[0] ?? 0;
  const r = await runBench(f, out);
  const status = r.status === 0 ? "ok" : `exit ${r.status}`;
  results[f] = status;
  runs.push({ file: f, at: new Date().toISOString(), status, machine: machineNow(loadBefore), lines: r.text.split("\n") });
}
writeFileSync(join(dir, "..", ".bench", "results.json"), JSON.stringify(results, null, 2));
const md = join(dir, "RESULTS.md");
writeFileSync(md, mergeResults(existsSync(md) ? readFileSync(md, "utf8") : "", runs));
process.stdout.write(`\nfigures recorded in ${md}\n`);
