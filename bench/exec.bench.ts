/**
 * Exec benchmark: running a command in a ready sandbox through sand-boxer vs
 * the raw tool an operator would type. Prints medians and ratios; asserts nothing.
 *   ext.local:       broker.exec(["true"]) vs the same `nsenter … true` spawned by hand
 *   ext.compose-ssh: `sandboxer exec ID -- true` (a CLI process: own ssh master)
 *                    vs `ssh host podman exec CONTAINER true` (one handshake each)
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createBroker } from "../src/broker.js";
import { contextFor } from "../src/broker/internal.js";
import { SANDBOX_PATH } from "../src/extensions/local/bwrap.js";
import { shellJoin } from "../src/transport/quote.js";
import { CLI } from "../test/helpers/cli.js";
import { startComposeEnv } from "../test/helpers/compose-env.js";
import { removeTree } from "../test/helpers/home.js";

const N = Number(process.env.BENCH_N ?? 15);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const pipe = { stdin: "ignore", stdout: "pipe", stderr: "pipe" } as const;

function timeSpawn(argv: string[], env: NodeJS.ProcessEnv = process.env): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0] as string, argv.slice(1), { env, stdio: ["ignore", "ignore", "pipe"] });
  if (r.status !== 0) throw new Error(`${argv.join(" ")} exited ${r.status}: ${r.stderr}`);
  return ms(t0);
}

async function local(): Promise<Record<string, number>> {
  const root = mkdtempSync(join(tmpdir(), "sbx-bench-exec-"));
  const env = { ...process.env, SANDBOXER_HOME: join(root, "home"), SANDBOXER_CONFIG: join(root, "none.yaml"), SANDBOXER_STATE_HUB_URL: "" };
  const broker = createBroker({ env });
  try {
    const sb = await broker.create({ profile: "profile.local" });
    const { row } = await contextFor(broker, sb.id);
    const pid = String((row.handle as { childPid: number }).childPid);
    const nsenter = [
      "nsenter",
      "--target",
      pid,
      "--user",
      "--preserve-credentials",
      "--mount",
      "--uts",
      "--ipc",
      "--net",
      "--pid",
      "--root",
      "--wd",
      "--",
      "/usr/bin/env",
      "-i",
      `PATH=${SANDBOX_PATH}`,
      "true",
    ];
    const raw: number[] = [];
    const ours: number[] = [];
    for (let i = 0; i < N + 1; i++) {
      const r = timeSpawn(nsenter);
      const t0 = process.hrtime.bigint();
      await broker.exec(sb.id, ["true"], pipe);
      const o = ms(t0);
      // The first pair warms caches.
      if (i > 0) {
        raw.push(r);
        ours.push(o);
      }
    }
    await broker.destroy(sb.id);
    return { rawMs: median(raw), oursMs: median(ours), ratio: median(ours) / median(raw) };
  } finally {
    await broker.close();
    await removeTree(root);
  }
}

async function compose(): Promise<Record<string, number>> {
  const f = await startComposeEnv();
  try {
    const env = { ...process.env, ...f.env, SANDBOXER_HOME: join(f.dir, "home"), SANDBOXER_HOST: "" };
    const broker = createBroker({ env });
    const sb = await broker.create({ profile: "profile.compose-test", host: "sbx-test-host", inputs: { repo: f.repo } });
    await broker.close();
    const container = ((sb.reachability as { services: Record<string, { container: string }> }).services.web as { container: string }).container;
    const raw: number[] = [];
    const ours: number[] = [];
    for (let i = 0; i < N + 1; i++) {
      const r = timeSpawn(["ssh", "-F", f.host1.configFile, "sbx-test-host", shellJoin(["podman", "exec", container, "true"])]);
      const o = timeSpawn([CLI, "exec", sb.id, "--", "true"], env);
      if (i > 0) {
        raw.push(r);
        ours.push(o);
      }
    }
    const end = createBroker({ env });
    await end.destroy(sb.id);
    await end.close();
    return { rawMs: median(raw), oursMs: median(ours), ratio: median(ours) / median(raw) };
  } finally {
    await f.stop();
  }
}

const fmt = (r: Record<string, number>) => `${(r.oursMs ?? 0).toFixed(1)} ms vs ${(r.rawMs ?? 0).toFixed(1)} ms raw: ${(r.ratio ?? 0).toFixed(2)}x`;
const l = await local();
console.log(`exec, ext.local (in-process broker.exec vs raw nsenter): ${fmt(l)}`);
const c = await compose();
console.log(`exec, ext.compose-ssh (CLI process vs raw ssh podman exec): ${fmt(c)}`);
if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, JSON.stringify({ n: N, local: l, compose: c }, null, 2));
