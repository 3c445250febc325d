/**
 * Files benchmark (issue 17). Prints figures and ratios; asserts nothing.
 *   `sandboxer cp DIR ID:dst` of a 512 MiB directory into a local sandbox
 *     vs raw `tar -c | nsenter --target PID ... tar -x`                          target <= 1.2x
 *   the same into a compose stack's container over SSH
 *     vs raw `tar -c | ssh host podman exec -i CONTAINER tar -x`                target <= 1.2x
 * Ratio = our time / raw time (1.0 = as fast as the raw tool). The tree: half
 * in ~16 KiB files (100 per directory), half in four large random files.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createBroker } from "../src/broker.js";
import { shellJoin } from "../src/transport/quote.js";
import { CLI } from "../test/helpers/cli.js";
import { startComposeEnv } from "../test/helpers/compose-env.js";
import { makeHome } from "../test/helpers/home.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 4);
const TOTAL = Number(process.env.BENCH_FILES_MIB ?? 512) * 1024 * 1024;
const root = mkdtempSync(join(tmpdir(), "sbx-bench-files-"));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

function makeTree(dir: string): number {
  let bytes = 0;
  let n = 0;
  const small = randomBytes(16 * 1024);
  while (bytes < TOTAL / 2) {
    const sub = join(dir, `d${Math.floor(n / 100)}`);
    if (n % 100 === 0) mkdirSync(sub, { recursive: true });
    small[0] = n & 0xff;
    writeFileSync(join(sub, `f${n}.bin`), small);
    bytes += small.length;
    n++;
  }
  // Four files of TOTAL/8 each: the other half of TOTAL.
  const chunk = randomBytes(TOTAL / 16);
  for (let i = 0; i < 4; i++) {
    writeFileSync(join(dir, `big${i}.bin`), Buffer.concat([chunk, chunk]));
    bytes += chunk.length * 2;
  }
  return n + 4;
}

/**
 * Each copy starts with nothing dirty in the page cache and is timed until
 * its data is on disk: otherwise one copy's writeback (hundreds of MiB to a
 * loop-mounted image) lands on whichever clock runs when the kernel flushes.
 */
function timed(argv: string[], env: NodeJS.ProcessEnv): number {
  spawnSync("sync");
  const t0 = performance.now();
  const r = spawnSync(argv[0] as string, argv.slice(1), { env, encoding: "utf8", maxBuffer: 16 * 1024 * 1024 });
  spawnSync("sync");
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${argv.slice(0, 3).join(" ")} failed (${r.status}): ${(r.stderr ?? "").slice(-500)}`);
  return ms;
}

const src = join(root, "tree");
mkdirSync(src);
const files = makeTree(src);
const mib = Math.round(TOTAL / 1024 / 1024);
console.log(`tree: ${files} files, ${mib} MiB`);
const summary: Record<string, unknown> = { runs: RUNS, mib, files };

const only = process.env.BENCH_FILES_ONLY;

// --- local sandbox -----------------------------------------------------------------------------
if (!only || only === "local") {
  const home = makeHome();
  const env = { ...process.env, ...home.env } as NodeJS.ProcessEnv;
  const broker = createBroker({ env: home.env });
  try {
    const sb = await broker.create({ profile: "profile.local" });
    const pid = String((sb.reachability as { pid: number }).pid);
    const enter = ["nsenter", "--target", pid, "--user", "--preserve-credentials", "--mount", "--uts", "--ipc", "--net", "--pid", "--root", "--wd", "--"];
    const ours: number[] = [];
    const raw: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const into = `/workspace/raw${i}`;
      const pipe = `tar -C ${shellJoin([src])} -cf - . | ${shellJoin([...enter, "sh", "-c", 'mkdir -p "$1" && tar -C "$1" -xf -', "sh", into])}`;
      // Turns about, so neither always meets a fuller filesystem or a busier disk.
      const pair = [() => ours.push(timed([CLI, "cp", src, `${sb.id}:ours${i}`], env)), () => raw.push(timed(["sh", "-c", pipe], env))];
      for (const run of i % 2 ? pair.reverse() : pair) run();
      await broker.deleteFile(sb.id, `ours${i}`, { recursive: true });
      await broker.deleteFile(sb.id, `raw${i}`, { recursive: true });
    }
    const r = median(ours) / median(raw);
    console.log(
      `local: sandboxer cp ${Math.round(median(ours))} ms vs raw tar | nsenter tar ${Math.round(median(raw))} ms: ratio ${r.toFixed(2)} (target <= 1.2); ${(mib / (median(ours) / 1000)).toFixed(0)} MiB/s`,
    );
    summary.local = {
      oursMs: Math.round(median(ours)),
      rawMs: Math.round(median(raw)),
      ratio: Number(r.toFixed(2)),
      ours: ours.map(Math.round),
      raw: raw.map(Math.round),
    };
    await broker.destroy(sb.id);
  } finally {
    await broker.close();
    await home.cleanup();
  }
}

// --- compose stack over SSH ---------------------------------------------------------------------
if (!only || only === "compose") {
  const f = await startComposeEnv();
  const home = makeHome(f.env);
  const env = { ...process.env, ...home.env } as NodeJS.ProcessEnv;
  const broker = createBroker({ env: home.env });
  try {
    const sb = await broker.create({ profile: "profile.compose-test", inputs: { repo: f.repo } });
    const container = (sb.reachability as { services: Record<string, { container: string }> }).services.worker?.container as string;
    const ours: number[] = [];
    const raw: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const remote = shellJoin(["podman", "exec", "-i", container, "sh", "-c", 'mkdir -p "$1" && tar -C "$1" -xf -', "sh", `/tmp/raw${i}`]);
      const pipe = `tar -C ${shellJoin([src])} -cf - . | ssh -F ${shellJoin([f.host1.configFile])} sbx-test-host ${shellJoin([remote])}`;
      // Turns about, as for the local sandbox: neither always runs right after the previous round's rm -rf.
      const pair = [
        () => ours.push(timed([CLI, "cp", "--service", "worker", src, `${sb.id}:/tmp/ours${i}`], env)),
        () => raw.push(timed(["sh", "-c", pipe], env)),
      ];
      for (const run of i % 2 ? pair.reverse() : pair) run();
      await broker.exec(sb.id, ["rm", "-rf", `/tmp/ours${i}`, `/tmp/raw${i}`], { stdin: "ignore", stdout: "pipe", stderr: "pipe" }, { service: "worker" });
    }
    const r = median(ours) / median(raw);
    console.log(
      `compose over SSH: sandboxer cp ${Math.round(median(ours))} ms vs raw tar | ssh podman exec -i tar ${Math.round(median(raw))} ms: ratio ${r.toFixed(2)} (target <= 1.2)`,
    );
    summary.compose = {
      oursMs: Math.round(median(ours)),
      rawMs: Math.round(median(raw)),
      ratio: Number(r.toFixed(2)),
      ours: ours.map(Math.round),
      raw: raw.map(Math.round),
    };
    await broker.destroy(sb.id);
  } finally {
    await broker.close();
    await home.cleanup();
    await f.stop();
  }
}

rmSync(root, { recursive: true, force: true });
if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, JSON.stringify(summary, null, 2));
