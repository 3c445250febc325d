/**
 * Compose benchmark (issue 3), on a loopback sshd + podman-compose (test fixtures):
 *   SSH handshakes per compose create (sshd's "Accepted publickey" lines)   target 1 per host
 *   SSH sessions per compose create (sshd's "Starting session" lines)       copy and `up` share one
 *   create->ready through the broker vs the same `ssh host podman-compose -p X up -d`
 *   run by hand (files already on the host), as a ratio                   target <= 1.2
 * The stack has no healthcheck, so "ready" = every service running, what `up -d` returns on.
 * Prints medians; asserts nothing.
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createBroker } from "../src/broker.js";
import { shellJoin } from "../src/transport/quote.js";
import { startComposeEnv } from "../test/helpers/compose-env.js";

const N = Number(process.env.BENCH_N ?? 5);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

const f = await startComposeEnv();
try {
  const stack = `services:\n  web:\n    image: ${f.podman.image}\n    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]\n    stop_signal: SIGKILL\n  worker:\n    image: ${f.podman.image}\n    command: ["sleep", "3600"]\n    stop_signal: SIGKILL\n`;
  const repo = f.writeRepo("bench", stack);
  const env = { ...process.env, ...f.env, SANDBOXER_HOME: join(f.dir, "home"), SANDBOXER_HOST: "" };
  const ours: number[] = [];
  const handshakes: number[] = [];
  const sessions: number[] = [];
  const raw: number[] = [];
  const phases: Record<string, number>[] = [];
  for (let i = 0; i < N; i++) {
    // A fresh broker per create, as each CLI invocation is: its own ControlMaster, closed at the end.
    const broker = createBroker({ env });
    const before = f.host1.handshakes();
    const sessionsBefore = f.host1.sessions();
    const t0 = performance.now();
    const t0Wall = Date.now();
    const sb = await broker.create({ profile: "profile.compose-test", host: "sbx-test-host", inputs: { repo } });
    ours.push(performance.now() - t0);
    handshakes.push(f.host1.handshakes() - before);
    sessions.push(f.host1.sessions() - sessionsBefore);
    // Where the time goes, from the record's own events (requested -> copy-and-up session -> ready).
    const evs = await broker.events({ sandboxId: sb.id });
    const at = (pred: (e: (typeof evs)[number]) => boolean) => new Date(evs.find(pred)?.at ?? Number.NaN).getTime();
    const t = {
      requested: at((e) => e.type === "sandbox.requested"),
      copy: at((e) => String(e.data.message ?? "").startsWith("copying")),
      ready: at((e) => e.type === "sandbox.ready"),
    };
    phases.push({ beforeRecord: Math.round(t.requested - t0Wall), placeToCopy: t.copy - t.requested, copyUpAndReady: t.ready - t.copy });
    await broker.destroy(sb.id);
    await broker.close();

    // By hand: the files are already in place, one ssh session runs `up -d`.
    const project = `sbx-rawbench${String.fromCharCode(97 + i)}`;
    const dir = join(f.dir, "raw", project);
    mkdirSync(dir, { recursive: true });
    cpSync(join(repo, "compose.yaml"), join(dir, "compose.yaml"));
    const t1 = performance.now();
    const up = spawnSync(
      "ssh",
      ["-F", f.host1.configFile, "sbx-test-host", shellJoin(["sh", "-c", 'cd "$1" && podman-compose -p "$2" up -d', "sh", dir, project])],
      { encoding: "utf8" },
    );
    raw.push(performance.now() - t1);
    if (up.status !== 0) throw new Error(`raw up failed: ${up.stderr.slice(-500)}`);
    spawnSync(
      "ssh",
      ["-F", f.host1.configFile, "sbx-test-host", shellJoin(["sh", "-c", 'cd "$1" && podman-compose -p "$2" down -v -t 0', "sh", dir, project])],
      { encoding: "utf8" },
    );
    f.podman.podman(["network", "rm", "-f", `${project}_default`]);
  }
  const summary = {
    n: N,
    handshakesPerCreate: median(handshakes),
    handshakes,
    sessionsPerCreate: median(sessions),
    createToReadyMs: Math.round(median(ours)),
    rawSshUpMs: Math.round(median(raw)),
    ratio: Number((median(ours) / median(raw)).toFixed(2)),
    phasesMs: Object.fromEntries(Object.keys(phases[0] ?? {}).map((k) => [k, median(phases.map((p) => p[k] as number))])),
  };
  console.log(`SSH handshakes per compose create: ${summary.handshakesPerCreate} (each run: ${handshakes.join(", ")}; target 1)`);
  console.log(`SSH sessions per compose create: ${summary.sessionsPerCreate} (each run: ${sessions.join(", ")})`);
  console.log(`create->ready ${summary.createToReadyMs} ms vs raw ssh podman-compose up -d ${summary.rawSshUpMs} ms: ratio ${summary.ratio} (target <= 1.2)`);
  console.log(`phases (median ms): ${JSON.stringify(summary.phasesMs)}`);
  if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, JSON.stringify(summary, null, 2));
} finally {
  await f.stop();
}
