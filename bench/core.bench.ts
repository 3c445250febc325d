/**
 * Core benchmark (issue 2): ext.local against raw bubblewrap, and a cold CLI
 * read against a bare `node -e 0`. Prints medians and ratios; asserts nothing.
 *   raw bwrap spawn           -> broker create->ready (readyAt - createdAt)   target <= 2x
 *   raw spawn+kill throughput -> broker create+destroy throughput             (ratio printed)
 *   node -e 0                 -> cold `sandboxer list --json`                 target <= 2.5x
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createBroker } from "../src/broker.js";
import { resolvePaths } from "../src/paths.js";
import { SqliteStore } from "../src/store/sqlite.js";
import { bwrapArgv } from "../src/extensions/local/bwrap.js";
import { startDetached } from "../src/extensions/local/spawn.js";
import { isSameProcessAlive } from "../src/proc.js";
import { removeTree } from "../test/helpers/home.js";

const N = Number(process.env.BENCH_N ?? 20);
const root = mkdtempSync(join(tmpdir(), "sbx-bench-"));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

async function killAndWait(pid: number): Promise<void> {
  try {
    process.kill(pid, "SIGKILL");
  } catch {}
  while (isSameProcessAlive(pid, null)) await new Promise((r) => setTimeout(r, 2));
}

/** The same sandbox the extension makes, started by hand: mkdir, bwrap, wait for its pid-1. */
async function rawBwrap(i: number): Promise<{ spawnMs: number; cycleMs: number }> {
  const id = `sbx-raw${String(i)
    .padStart(9, "a")
    .replace(/[^a-z2-7]/g, "a")}`.slice(0, 16);
  const ws = join(root, "raw", id);
  const t0 = process.hrtime.bigint();
  mkdirSync(ws, { recursive: true });
  const started = await startDetached(
    bwrapArgv({ sandboxId: id, workspace: ws, network: "none", infoFd: 3 }),
    join(root, `${id}.log`),
    new AbortController().signal,
  );
  const spawnMs = ms(t0);
  await killAndWait(started.childPid);
  rmSync(ws, { recursive: true, force: true });
  return { spawnMs, cycleMs: ms(t0) };
}

function coldRun(argv: string[], env: NodeJS.ProcessEnv): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0] as string, argv.slice(1), { env, stdio: ["ignore", "ignore", "inherit"] });
  if (r.status !== 0) throw new Error(`${argv.join(" ")} exited ${r.status}`);
  return ms(t0);
}

async function main(): Promise<void> {
  const env = { ...process.env, SANDBOXER_HOME: join(root, "home"), SANDBOXER_CONFIG: join(root, "none.yaml"), SANDBOXER_STATE_HUB_URL: "" };
  const broker = createBroker({ env });
  // Warm-up: first bwrap and first create pay page-cache and module costs once.
  await rawBwrap(0);
  await broker.destroy((await broker.create({ profile: "profile.local" })).id);

  const raw = [];
  for (let i = 1; i <= N; i++) raw.push(await rawBwrap(i));
  const readyMs: number[] = [];
  const cycleMs: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = process.hrtime.bigint();
    const sb = await broker.create({ profile: "profile.local" });
    readyMs.push(Date.parse(sb.readyAt ?? "") - Date.parse(sb.createdAt));
    await broker.destroy(sb.id);
    cycleMs.push(ms(t0));
  }
  await broker.close();

  // Cold CLI: a store with 200 records so `list` reads something real.
  const cliEnv = { ...env, SANDBOXER_HOME: join(root, "cli-home") };
  const seed = new SqliteStore(resolvePaths(cliEnv).db);
  for (let i = 0; i < 200; i++)
    await seed.tx((t) =>
      t.events.append({ id: `evt-seed${i}`, type: "bench", sandboxId: null, at: new Date().toISOString(), actor: null, project: null, data: {} }),
    );
  await seed.close();
  const cli = join(import.meta.dirname, "..", "dist", "cli.js");
  const nodeMs: number[] = [];
  const listMs: number[] = [];
  for (let i = 0; i < 15; i++) {
    nodeMs.push(coldRun(["node", "-e", "0"], cliEnv));
    listMs.push(coldRun(["node", cli, "list", "--json"], cliEnv));
  }

  const res = {
    n: N,
    rawBwrapSpawnMs: median(raw.map((r) => r.spawnMs)),
    brokerCreateToReadyMs: median(readyMs),
    createToReadyRatio: median(readyMs) / median(raw.map((r) => r.spawnMs)),
    rawCyclesPerSec: 1000 / median(raw.map((r) => r.cycleMs)),
    brokerCreateDestroyPerSec: 1000 / median(cycleMs),
    throughputRatio: median(raw.map((r) => r.cycleMs)) / median(cycleMs),
    nodeColdMs: median(nodeMs),
    listColdMs: median(listMs),
    coldListRatio: median(listMs) / median(nodeMs),
  };
  const f = (x: number) => x.toFixed(2);
  console.log(`raw bwrap spawn (median of ${N})         ${f(res.rawBwrapSpawnMs)} ms`);
  console.log(`broker create->ready (readyAt-createdAt) ${f(res.brokerCreateToReadyMs)} ms   ratio ${f(res.createToReadyRatio)}x (target <= 2)`);
  console.log(`raw spawn+kill+rm cycles                 ${f(res.rawCyclesPerSec)} /s`);
  console.log(`broker create+destroy                    ${f(res.brokerCreateDestroyPerSec)} /s   ratio ${f(res.throughputRatio)} of raw`);
  console.log(`node -e 0 (cold)                         ${f(res.nodeColdMs)} ms`);
  console.log(`sandboxer list --json (cold)             ${f(res.listColdMs)} ms   ratio ${f(res.coldListRatio)}x (target <= 2.5)`);
  if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, JSON.stringify(res, null, 2));
  await removeTree(root);
}

main().catch(async (err) => {
  console.error(err);
  await removeTree(root);
  process.exit(1);
});
