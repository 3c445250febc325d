/**
 * Snapshot benchmark (issue 5). Prints figures and ratios; asserts nothing.
 *   raw `tar | zstd -T0` of a 512 MiB workspace  -> `broker.snapshot` (archive, BLAKE3 digest, record)   target ratio >= 0.9
 *   raw `zstd -d | tar -x` of the same archive   -> `broker.restore` (verify, create, fill, ready) target ratio >= 0.8
 *   reaper pass over 1,000 expired ext.local records (made in the store directly, see below)
 * Ratio = raw time / our time (1.0 = as fast as the raw tool).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createBroker } from "../src/broker.js";
import { resolvePaths } from "../src/paths.js";
import { SqliteStore } from "../src/store/sqlite.js";
import { createReaper } from "../src/reaper.js";
import type { SandboxRow } from "../src/types.js";
import { removeTree } from "../test/helpers/home.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const TOTAL = Number(process.env.BENCH_SNAPSHOT_MIB ?? 512) * 1024 * 1024;
const REAP_N = Number(process.env.BENCH_REAP_N ?? 1000);
const root = mkdtempSync(join(tmpdir(), "sbx-bench-snap-"));
/**
 * CPU seconds used so far by this process and its waited-for children (tar,
 * zstd, b3sum): /proc/self/stat utime+stime+cutime+cstime. Unlike wall time it
 * hardly moves with the machine's load, so it shows what hashing costs.
 */
function cpuSeconds(): number {
  const f = readFileSync("/proc/self/stat", "utf8").split(") ")[1]?.split(" ") ?? [];
  return [11, 12, 13, 14].reduce((sum, i) => sum + Number(f[i] ?? 0), 0) / 100;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

/** Deterministic PRNG (xorshift32): the same tree every run. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

/** Source-code-like text (compresses ~3-4x with zstd), to slice files from. */
function textPool(bytes: number, rand: () => number): Buffer {
  const words = [
    "const",
    "return",
    "function",
    "import",
    "export",
    "sandbox",
    "workspace",
    "if",
    "else",
    "await",
    "async",
    "string",
    "number",
    "=>",
    "{",
    "}",
    "(",
    ")",
    ";",
    "\n",
    "  ",
    "snapshot",
    "restore",
    "value",
    "error",
    "type",
    "interface",
    "let",
    "for",
    "of",
  ];
  const buf = Buffer.alloc(bytes);
  let off = 0;
  while (off < bytes) {
    const w = rand() < 0.08 ? rand().toString(36).slice(2, 8) : (words[Math.floor(rand() * words.length)] as string);
    off += buf.write(`${w} `, off);
  }
  return buf;
}

/** ~half the bytes in many small files (1-16 KiB, 100 per directory), the rest in four big ones (two incompressible). */
function makeTree(dir: string): { files: number; bytes: number } {
  const rand = rng(42);
  const pool = textPool(32 * 1024 * 1024, rand);
  let bytes = 0;
  let files = 0;
  while (bytes < TOTAL / 2) {
    const sub = join(dir, "src", `d${Math.floor(files / 100)}`);
    if (files % 100 === 0) mkdirSync(sub, { recursive: true });
    const size = 1024 + Math.floor(rand() * 15 * 1024);
    const at = Math.floor(rand() * (pool.length - size));
    writeFileSync(join(sub, `f${files}.ts`), pool.subarray(at, at + size));
    bytes += size;
    files++;
  }
  mkdirSync(join(dir, "big"));
  const each = Math.floor((TOTAL - bytes) / 4);
  for (let i = 0; i < 4; i++) {
    const chunk = i < 2 ? pool.subarray(0, 8 * 1024 * 1024) : Buffer.from(Array.from({ length: 8 * 1024 * 1024 }, () => Math.floor(rand() * 256)));
    const parts: Buffer[] = [];
    for (let left = each; left > 0; left -= chunk.length) parts.push(chunk.subarray(0, Math.min(chunk.length, left)));
    writeFileSync(join(dir, "big", `blob${i}.bin`), Buffer.concat(parts));
    bytes += each;
    files++;
  }
  return { files, bytes };
}

function sh(script: string, ...args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync("bash", ["-c", `set -o pipefail; ${script}`, "bench", ...args], { stdio: ["ignore", "ignore", "inherit"] });
  if (r.status !== 0) throw new Error(`bash -c ${script} exited ${r.status}`);
  return ms(t0);
}

async function snapshotBench(env: NodeJS.ProcessEnv) {
  const broker = createBroker({ env });
  const sb = await broker.create({ profile: "profile.bench-snapshot" });
  const ws = join(resolvePaths(env).workspaces, sb.id);
  const tree = makeTree(ws);
  const rawArchive = join(root, "raw.tar.zst");
  // Warm the page cache once so neither side pays the first read.
  sh('tar -C "$1" -cf - . > /dev/null', ws);
  const raw: number[] = [];
  const ours: number[] = [];
  const rawCpu: number[] = [];
  const oursCpu: number[] = [];
  const rawX: number[] = [];
  const oursX: number[] = [];
  const phases: { verifyMs: number; fillMs: number; startMs: number }[] = [];
  let archiveBytes = 0;
  // Each timed step starts from flushed dirty pages (`sync`), and the order of
  // raw and ours alternates per run, so neither side pays for the other's writeback.
  const settle = () => spawnSync("sync");
  const into = join(root, "raw-restore");
  for (let i = 0; i < RUNS; i++) {
    const rawSnap = () => {
      rmSync(rawArchive, { force: true });
      settle();
      const c0 = cpuSeconds();
      raw.push(sh('tar --numeric-owner -C "$1" -cf - . | zstd -q -T0 -c > "$2"', ws, rawArchive));
      rawCpu.push(cpuSeconds() - c0);
    };
    const oursSnap = async () => {
      settle();
      const c0 = cpuSeconds();
      const t0 = process.hrtime.bigint();
      const snap = await broker.snapshot(sb.id);
      ours.push(ms(t0));
      oursCpu.push(cpuSeconds() - c0);
      archiveBytes = snap.sizeBytes;
      return snap;
    };
    const rawRestore = () => {
      settle();
      rawX.push(sh('mkdir -p "$2" && zstd -q -d -c "$1" | tar --numeric-owner -C "$2" -xf -', rawArchive, into));
      rmSync(into, { recursive: true, force: true });
    };
    const oursRestore = async (snapId: string) => {
      settle();
      const wall = Date.now();
      const t0 = process.hrtime.bigint();
      const restored = await broker.restore(snapId);
      oursX.push(ms(t0));
      // Where the restore's time went, from its own events: verify+plan, fill, start+ready.
      const ev = await broker.events({ sandboxId: restored.id });
      const when = (pred: (e: (typeof ev)[number]) => boolean) => Date.parse(ev.find(pred)?.at ?? "");
      const fillAt = when((e) => e.type === "sandbox.progress" && String(e.data.message).startsWith("restoring"));
      const startAt = when((e) => e.type === "sandbox.progress" && String(e.data.message).startsWith("starting"));
      phases.push({
        verifyMs: when((e) => e.type === "sandbox.requested") - wall,
        fillMs: startAt - fillAt,
        startMs: when((e) => e.type === "sandbox.ready") - startAt,
      });
      await broker.destroy(restored.id);
    };
    if (i % 2 === 0) {
      rawSnap();
      const snap = await oursSnap();
      rawRestore();
      await oursRestore(snap.id);
      await broker.deleteSnapshot(snap.id);
    } else {
      const snap = await oursSnap();
      rawSnap();
      await oursRestore(snap.id);
      rawRestore();
      await broker.deleteSnapshot(snap.id);
    }
  }
  await broker.destroy(sb.id);
  await broker.close();
  const mib = tree.bytes / 1024 / 1024;
  return {
    workspaceMiB: Math.round(mib),
    files: tree.files,
    archiveMiB: Math.round(archiveBytes / 1024 / 1024),
    rawSnapshotMs: median(raw),
    snapshotMs: median(ours),
    rawSnapshotMiBps: mib / (median(raw) / 1000),
    snapshotMiBps: mib / (median(ours) / 1000),
    snapshotRatio: median(raw) / median(ours),
    rawSnapshotCpuS: median(rawCpu),
    snapshotCpuS: median(oursCpu),
    rawRestoreMs: median(rawX),
    restoreMs: median(oursX),
    rawRestoreMiBps: mib / (median(rawX) / 1000),
    restoreMiBps: mib / (median(oursX) / 1000),
    restoreRatio: median(rawX) / median(oursX),
    restoreVerifyMs: median(phases.map((p) => p.verifyMs)),
    restoreFillMs: median(phases.map((p) => p.fillMs)),
    restoreStartMs: median(phases.map((p) => p.startMs)),
    runs: { rawSnapshotMs: raw, snapshotMs: ours, rawRestoreMs: rawX, restoreMs: oursX },
  };
}

/**
 * 1,000 expired ext.local sandboxes would take minutes to start with bwrap, so
 * the records (ready, expired, each with its workspace and run directory on
 * disk) are written to the store directly; the reaper then claims, tears down
 * (ext.local teardown: process scan + rm of both dirs) and records each one.
 */
async function reaperBench(env: NodeJS.ProcessEnv) {
  const broker = createBroker({ env });
  const past = new Date(Date.now() - 60_000).toISOString();
  const ids: string[] = [];
  const paths = resolvePaths(env);
  const store = new SqliteStore(paths.db);
  await store.tx(async (t) => {
    for (let i = 0; i < REAP_N; i++) {
      const id = `sbx-${[...i.toString(32).padStart(12, "0")].map((c) => "abcdefghijklmnopqrstuvwxyz234567"[Number.parseInt(c, 32)]).join("")}`;
      const workspace = join(paths.workspaces, id);
      const runDir = join(paths.run, id);
      mkdirSync(workspace, { recursive: true });
      mkdirSync(runDir, { recursive: true });
      writeFileSync(join(workspace, "file.txt"), "x");
      const row: SandboxRow = {
        id,
        profile: "profile.local",
        profileVersion: 1,
        extension: "ext.local",
        mode: null,
        host: "localhost",
        state: "ready",
        actor: "atm",
        project: "bench",
        inputs: {},
        createdAt: past,
        readyAt: past,
        expiresAt: past,
        destroyedAt: null,
        reason: null,
        reachability: {},
        route: null,
        cost: null,
        error: null,
        hostFacts: null,
        ttlSeconds: 1,
        updatedAt: past,
        handle: { workspace, runDir, network: "none" },
        ownerPid: null,
        ownerStart: null,
      };
      await t.sandboxes.insert(row);
      ids.push(id);
    }
  });
  const reaper = createReaper(broker, { holder: "bench", reconcile: false });
  const t0 = process.hrtime.bigint();
  const pass = await reaper.tick();
  const total = ms(t0);
  const destroyed = pass.expired?.destroyed.length ?? 0;
  const expiredEvents = (await broker.events({ limit: 1_000_000 })).filter((e) => e.type === "sandbox.expired").length;
  await store.close();
  await broker.releaseLease("reaper", "bench");
  await broker.close();
  return {
    reapN: REAP_N,
    reapDestroyed: destroyed,
    reapExpiredEvents: expiredEvents,
    reapMs: total,
    reapPerSandboxMs: total / REAP_N,
    reapPerSec: REAP_N / (total / 1000),
  };
}

async function main(): Promise<void> {
  const profiles = join(root, "profiles");
  mkdirSync(profiles);
  // profile.local with room for a 512 MiB restore inside the create timeout.
  writeFileSync(
    join(profiles, "profile.bench-snapshot.yaml"),
    "id: profile.bench-snapshot\nversion: 1\nextension: ext.local\nplacement: { hosts: [localhost] }\nttl: { default: 1h, max: 2h }\ntimeout: 10m\nnetwork: none\n",
  );
  const env = {
    ...process.env,
    SANDBOXER_HOME: join(root, "home"),
    SANDBOXER_CONFIG: join(root, "none.yaml"),
    SANDBOXER_STATE_HUB_URL: "",
    SANDBOXER_PROFILES_DIR: profiles,
  };
  const snap = await snapshotBench(env);
  const f = (x: number) => x.toFixed(2);
  console.log(`workspace: ${snap.workspaceMiB} MiB in ${snap.files} files -> ${snap.archiveMiB} MiB tar+zstd; median of ${RUNS}`);
  console.log(`raw tar | zstd -T0            ${f(snap.rawSnapshotMs)} ms  ${f(snap.rawSnapshotMiBps)} MiB/s`);
  console.log(`sandboxer snapshot            ${f(snap.snapshotMs)} ms  ${f(snap.snapshotMiBps)} MiB/s   ratio ${f(snap.snapshotRatio)} (target >= 0.9)`);
  console.log(
    `  CPU seconds (process + children, steadier than wall time under load): raw ${f(snap.rawSnapshotCpuS)} s, snapshot ${f(snap.snapshotCpuS)} s (+${f(snap.snapshotCpuS - snap.rawSnapshotCpuS)} s)`,
  );
  console.log(`raw zstd -d | tar -x          ${f(snap.rawRestoreMs)} ms  ${f(snap.rawRestoreMiBps)} MiB/s`);
  console.log(`sandboxer restore (to ready)  ${f(snap.restoreMs)} ms  ${f(snap.restoreMiBps)} MiB/s   ratio ${f(snap.restoreRatio)} (target >= 0.8)`);
  const list = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(", ");
  console.log(
    `  per run (ms): raw snapshot ${list(snap.runs.rawSnapshotMs)} | snapshot ${list(snap.runs.snapshotMs)} | raw restore ${list(snap.runs.rawRestoreMs)} | restore ${list(snap.runs.restoreMs)}`,
  );
  console.log(
    `  load average at the end: ${loadavg()
      .map((x) => x.toFixed(1))
      .join(" ")} on ${cpus().length} cpus (figures are only as steady as the machine)`,
  );
  console.log(`  restore phases: verify+plan ${f(snap.restoreVerifyMs)} ms, fill ${f(snap.restoreFillMs)} ms, start+ready ${f(snap.restoreStartMs)} ms`);
  const reap = await reaperBench({ ...env, SANDBOXER_HOME: join(root, "reap-home") });
  console.log(
    `reaper: ${reap.reapDestroyed}/${reap.reapN} expired ext.local records destroyed in ${f(reap.reapMs)} ms (${f(reap.reapPerSandboxMs)} ms each, ${f(reap.reapPerSec)}/s; ${reap.reapExpiredEvents} sandbox.expired events)`,
  );
  console.log("  (records written to the store directly with their directories; no bwrap processes: see the comment in this file)");
  if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, JSON.stringify({ ...snap, ...reap }, null, 2));
  await removeTree(root);
}

main().catch(async (err) => {
  console.error(err);
  await removeTree(root);
  process.exit(1);
});
