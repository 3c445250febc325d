/**
 * Compose policy check time (issue 11: target < 20 ms for a 20-service stack).
 * A 20-service stack on disk (a .env with interpolated values, services that
 * `extends` a shared file, binds inside the stack, named volumes, env files,
 * build contexts), checked the way preflight does (real files, both engine
 * dialects), p50/p99 over many runs, and as a ratio to a plain YAML parse of the
 * same compose file (read + parse). Prints figures, asserts nothing.
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: compose text uses ${VAR} literally
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parse as parseYaml } from "yaml";
import { enforceComposePolicy } from "../src/extensions/compose-ssh/policy-check.js";

const SERVICES = 20;
const RUNS = 1000;

function writeStack(dir: string): void {
  const lines = ["services:"];
  for (let i = 0; i < SERVICES; i++) {
    lines.push(
      `  svc${i}:`,
      i % 4 === 0 ? `    extends: { file: common/base.yaml, service: base }` : `    image: \${REGISTRY:-localhost}/app${i}:\${TAG}`,
      `    command: ["sh", "-c", "echo $$HOSTNAME; sleep 3600"]`,
      `    environment: { ROLE: svc${i}, LEVEL: "\${LEVEL:-info}" }`,
      `    env_file: [env/common.env]`,
      `    volumes: ["./data/svc${i}:/data", "cache${i % 5}:/cache", { type: bind, source: ./conf, target: /conf, read_only: true }]`,
      `    ports: ["127.0.0.1::80${String(i).padStart(2, "0")}"]`,
      `    security_opt: ["no-new-privileges:true"]`,
      `    cap_drop: [ALL]`,
      `    healthcheck: { test: ["CMD", "true"], interval: 5s, retries: 3 }`,
      ...(i % 5 === 0 ? [`    build: { context: ./app, dockerfile: Dockerfile }`] : []),
      ...(i > 0 ? [`    depends_on: [svc${i - 1}]`] : []),
    );
  }
  lines.push("volumes:", ...Array.from({ length: 5 }, (_, i) => `  cache${i}: {}`));
  writeFileSync(join(dir, "compose.yaml"), `${lines.join("\n")}\n`);
  writeFileSync(join(dir, ".env"), "TAG=1.2.3\nLEVEL=debug\nREGISTRY=localhost\n");
  for (const d of ["common", "env", "conf", "app", "data"]) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, "common", "base.yaml"), "services:\n  base:\n    image: localhost/base:${TAG}\n    read_only: true\n");
  writeFileSync(join(dir, "env", "common.env"), "A=1\n");
  writeFileSync(join(dir, "app", "Dockerfile"), "FROM scratch\n");
}

function percentiles(samples: number[]): { p50: number; p99: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: s[Math.floor(s.length * 0.5)] as number, p99: s[Math.min(s.length - 1, Math.floor(s.length * 0.99))] as number };
}

/** Wall time per run, and the mean CPU time (user + system) per run: on a shared machine the CPU figure is the steadier one. */
function sample(fn: () => void): { wall: number[]; cpuMs: number } {
  for (let i = 0; i < 50; i++) fn();
  const wall: number[] = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    fn();
    wall.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  return { wall, cpuMs: (cpu.user + cpu.system) / 1000 / RUNS };
}

const dir = mkdtempSync(join(tmpdir(), "sbx-bench-policy-"));
try {
  writeStack(dir);
  const profile = { id: "profile.bench", settings: {} };
  enforceComposePolicy(dir, "compose.yaml", profile); // a clean stack: it must pass
  const c = sample(() => enforceComposePolicy(dir, "compose.yaml", profile));
  const p = sample(() => parseYaml(readFileSync(join(dir, "compose.yaml"), "utf8")));
  const check = percentiles(c.wall);
  const parse = percentiles(p.wall);
  const fmt = (ms: number) => `${ms.toFixed(2)} ms`;
  console.log(
    `compose policy check, ${SERVICES} services (real files, both dialects), ${RUNS} runs: p50 ${fmt(check.p50)}, p99 ${fmt(check.p99)}, CPU ${fmt(c.cpuMs)}/run (target < 20 ms)`,
  );
  console.log(`plain YAML read + parse of the same compose file:             p50 ${fmt(parse.p50)}, p99 ${fmt(parse.p99)}, CPU ${fmt(p.cpuMs)}/run`);
  console.log(
    `ratio check / parse: p50 ${(check.p50 / parse.p50).toFixed(1)}x, CPU ${(c.cpuMs / p.cpuMs).toFixed(1)}x; load average ${loadavg()[0]?.toFixed(1)}`,
  );
  const results = {
    services: SERVICES,
    runs: RUNS,
    checkP50Ms: check.p50,
    checkP99Ms: check.p99,
    checkCpuMs: c.cpuMs,
    parseP50Ms: parse.p50,
    parseP99Ms: parse.p99,
    parseCpuMs: p.cpuMs,
    ratioP50: check.p50 / parse.p50,
    ratioCpu: c.cpuMs / p.cpuMs,
    loadAverage: loadavg()[0],
  };
  if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, JSON.stringify(results, null, 2));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
