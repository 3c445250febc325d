/**
 * Resource limits on ext.local (issue 11). Two views, interleaved so noise
 * from other work on the machine falls on every variant alike:
 *
 * 1. The sandbox itself, as the extension starts it (mkdir, bubblewrap, wait
 *    for its init): without limits, vs with cgroups/rlimits (processes,
 *    memory, cpu), vs with every limit incl. the workspace disk image.
 *    target: cgroups <= 1.1x
 * 2. Broker create->ready (readyAt - createdAt) for profiles with the default
 *    limits with and without the disk image (a registration cap forbids
 *    `unlimited` profiles, so the no-limits baseline is view 1's).
 *
 * Asserts nothing; prints medians and ratios.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createBroker } from "../src/broker.js";
import { DEFAULT_LIMITS, type FullLimits } from "../src/catalog/limits.js";
import { bwrapArgv, INIT_ARGV } from "../src/extensions/local/bwrap.js";
import { confine, procsFiles, release } from "../src/extensions/local/limits/apply.js";
import { confinedArgv } from "../src/extensions/local/limits/plan.js";
import { removeTree } from "../test/helpers/home.js";
import { startDetached } from "../src/extensions/local/spawn.js";
import { childrenOf, isSameProcessAlive, readCmdline } from "../src/proc.js";

const N = Number(process.env.BENCH_N ?? 20);
const root = mkdtempSync(join(tmpdir(), "sbx-bench-limits-"));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const paired = (xs: number[] = [], base: number[] = []) => xs.map((x, i) => x / (base[i] ?? Number.NaN));
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const signal = new AbortController().signal;

const VARIANTS: Record<string, FullLimits | null> = {
  none: null,
  cgroups: { ...DEFAULT_LIMITS, disk: "unlimited" },
  all: { ...DEFAULT_LIMITS },
};

/** One sandbox as ext.local makes it, timed from mkdir to "init is running"; then removed. */
async function sandbox(i: number, limits: FullLimits | null): Promise<number> {
  const id = `sbx-bench${String(i)
    .padStart(7, "a")
    .replace(/[^a-z2-7]/g, "b")}`.slice(0, 16);
  const where = { home: join(root, "home"), env: process.env, workspace: join(root, "ws", id), runDir: join(root, "run", id) };
  const t0 = process.hrtime.bigint();
  mkdirSync(where.workspace, { recursive: true });
  mkdirSync(where.runDir, { recursive: true });
  const c = limits ? await confine(id, limits, where, signal, () => {}) : null;
  const argv = bwrapArgv({ sandboxId: id, workspace: where.workspace, network: "none", infoFd: 3 });
  const started = await startDetached(c ? confinedArgv(procsFiles(c), c.rlimits, argv) : argv, join(where.runDir, "bwrap.log"), signal);
  while (!childrenOf(started.childPid).some((p) => readCmdline(p)?.join("\0") === INIT_ARGV.join("\0"))) await new Promise((r) => setTimeout(r, 2));
  const took = ms(t0);
  process.kill(started.childPid, "SIGKILL");
  while (isSameProcessAlive(started.childPid, null)) await new Promise((r) => setTimeout(r, 2));
  if (c) await release(id, c, where);
  rmSync(where.workspace, { recursive: true, force: true });
  rmSync(where.runDir, { recursive: true, force: true });
  return took;
}

async function main(): Promise<void> {
  const times: Record<string, number[]> = { none: [], cgroups: [], all: [] };
  for (let i = -1; i < N; i++) {
    // The order turns each round: no variant always runs right after another's teardown (the disk one formats the next spare).
    const order = Object.entries(VARIANTS);
    for (const [v, limits] of [...order.slice((i + 1) % 3), ...order.slice(0, (i + 1) % 3)]) {
      const t = await sandbox(i + 1, limits);
      if (i >= 0) times[v]?.push(t); // round -1 warms caches for every variant
    }
  }

  const profiles = join(root, "profiles");
  mkdirSync(profiles);
  writeFileSync(join(profiles, "profile.bench-nodisk.yaml"), "id: profile.bench-nodisk\nversion: 1\nextension: ext.local\nlimits: { disk: unlimited }\n");
  const env = {
    ...process.env,
    SANDBOXER_HOME: join(root, "bhome"),
    SANDBOXER_CONFIG: join(root, "none.yaml"),
    SANDBOXER_STATE_HUB_URL: "",
    SANDBOXER_PROFILES_DIR: profiles,
  };
  const broker = createBroker({ env });
  const ready: Record<string, number[]> = { "profile.bench-nodisk": [], "profile.local": [] };
  for (let i = -1; i < N; i++) {
    for (const p of Object.keys(ready)) {
      const sb = await broker.create({ profile: p });
      if (i >= 0) ready[p]?.push(Date.parse(sb.readyAt ?? "") - Date.parse(sb.createdAt));
      await broker.destroy(sb.id);
    }
  }
  await broker.close();

  const m = (xs: number[] | undefined) => median(xs ?? []);
  const res = {
    n: N,
    sandboxNoLimitsMs: m(times.none),
    sandboxCgroupsMs: m(times.cgroups),
    sandboxAllMs: m(times.all),
    cgroupsRatio: m(times.cgroups) / m(times.none),
    allRatio: m(times.all) / m(times.none),
    // Each round runs the three back to back: its own ratio cancels the load drifting between rounds (this host is shared).
    cgroupsPairedRatio: m(paired(times.cgroups, times.none)),
    allPairedRatio: m(paired(times.all, times.none)),
    brokerReadyNoDiskMs: m(ready["profile.bench-nodisk"]),
    brokerReadyDefaultsMs: m(ready["profile.local"]),
  };
  const f = (x: number) => x.toFixed(2);
  console.log(`sandbox start, no limits (median of ${N})         ${f(res.sandboxNoLimitsMs)} ms`);
  console.log(`sandbox start, cgroups (processes, memory, cpu)  ${f(res.sandboxCgroupsMs)} ms   ratio ${f(res.cgroupsRatio)}x (target <= 1.1)`);
  console.log(`sandbox start, + workspace disk image            ${f(res.sandboxAllMs)} ms   ratio ${f(res.allRatio)}x`);
  console.log(`  median of per-round ratios: cgroups ${f(res.cgroupsPairedRatio)}x, + disk image ${f(res.allPairedRatio)}x`);
  console.log(`broker create->ready, defaults without disk      ${f(res.brokerReadyNoDiskMs)} ms`);
  console.log(`broker create->ready, defaults (profile.local)   ${f(res.brokerReadyDefaultsMs)} ms`);
  if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, JSON.stringify(res, null, 2));
  await cleanup();
}

/** Spare workspace filesystems stay mounted for the next create: unmount them before removing the tree. */
async function cleanup(): Promise<void> {
  await removeTree(root);
}

main().catch(async (err) => {
  console.error(err);
  await cleanup().catch(() => {});
  process.exit(1);
});
