/**
 * `make bench`: runs every bench/*.bench.ts in turn (each prints its own ratios
 * against the raw tool) and collects their JSON summaries into .bench/results.json.
 * Benchmarks never assert on time: they print figures for the README.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const dir = import.meta.dirname;
const only = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => !only.length || only.some((o) => f.includes(o)))
  .sort();
const results: Record<string, unknown> = {};
for (const f of files) {
  process.stdout.write(`\n=== ${f}\n`);
  const out = join(dir, "..", ".bench", `${f}.json`);
  mkdirSync(join(dir, "..", ".bench"), { recursive: true });
  const r = spawnSync("npx", ["tsx", join(dir, f)], { stdio: "inherit", env: { ...process.env, BENCH_OUT: out } });
  results[f] = r.status === 0 ? "ok" : `exit ${r.status}`;
}
writeFileSync(join(dir, "..", ".bench", "results.json"), JSON.stringify(results, null, 2));
