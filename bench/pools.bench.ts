/**
 * Warm pools benchmark (issue 14). Asserts nothing; prints medians and p99.
 *   ext.local: create->ready claimed from a warm pool vs a cold create (with
 *     the per-sandbox disk image) vs a raw bwrap spawn, in process and through
 *     the API (POST, then GET of the record, on loopback)      target claim p50 <= 2 ms in process
 *   compose stack over loopback sshd: claim vs cold, through the API        target claim p50 <= 20 ms
 *   a burst of 100 creates against a pool of 20 with the keeper refilling:
 *     hit rate and refill lag
 *   the same claims and burst with the store on PostgreSQL 15 on loopback (a
 *     throwaway server: test/fixtures/postgres.ts): claims take their member
 *     with FOR UPDATE SKIP LOCKED
 * BENCH_N (default 30 local claims), BENCH_COMPOSE_N (default 6 compose claims).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer } from "../src/api/server.js";
import { type Broker, createBroker } from "../src/broker.js";
import { bwrapArgv } from "../src/extensions/local/bwrap.js";
import { startDetached } from "../src/extensions/local/spawn.js";
import { isSameProcessAlive } from "../src/proc.js";
import { startReaper } from "../src/reaper.js";
import { freshDatabase, makeTemplate, startPostgres } from "../test/fixtures/postgres.js";
import { startComposeEnv } from "../test/helpers/compose-env.js";
import { removeTree } from "../test/helpers/home.js";

const N = Number(process.env.BENCH_N ?? 30);
const NC = Number(process.env.BENCH_COMPOSE_N ?? 6);
const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? Number.NaN;
const stat = (xs: number[]) => ({ p50: Number(q(xs, 0.5).toFixed(2)), p99: Number(q(xs, 0.99).toFixed(2)), n: xs.length });
const show = (label: string, xs: number[]) =>
  console.log(`${label.padEnd(58)} p50 ${q(xs, 0.5).toFixed(2).padStart(8)} ms   p99 ${q(xs, 0.99).toFixed(2).padStart(8)} ms   (n=${xs.length})`);
const root = mkdtempSync(join(tmpdir(), "sbx-bench-pools-"));
const results: Record<string, unknown> = {};

async function rawBwrapMs(i: number): Promise<number> {
  const id = `sbx-rawpool${"abcdefghijklmnopqrstuvwxyz"[i % 26]}`;
  const ws = join(root, "raw", id);
  const t0 = performance.now();
  mkdirSync(ws, { recursive: true });
  const started = await startDetached(
    bwrapArgv({ sandboxId: id, workspace: ws, network: "none", infoFd: 3 }),
    join(root, `${id}.log`),
    new AbortController().signal,
  );
  const took = performance.now() - t0;
  process.kill(started.childPid, "SIGKILL");
  while (isSameProcessAlive(started.childPid, null)) await new Promise((r) => setTimeout(r, 2));
  rmSync(ws, { recursive: true, force: true });
  return took;
}

/** POST then GET, as a client sees create->ready through the API. */
async function apiCreate(url: string, token: string, body: unknown): Promise<{ ms: number; id: string; pooled: boolean }> {
  const headers = { Authorization: `Bearer ${token}`, "Content-Type": "application/json" };
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/sandboxes`, { method: "POST", headers, body: JSON.stringify(body) });
  const sb = (await res.json()) as { id: string; route?: { pool?: { served?: boolean } } };
  if (res.status !== 201) throw new Error(`create answered ${res.status}: ${JSON.stringify(sb)}`);
  const got = await fetch(`${url}/v1/sandboxes/${sb.id}`, { headers });
  await got.json();
  return { ms: performance.now() - t0, id: sb.id, pooled: Boolean(sb.route?.pool?.served) };
}

async function destroyAll(broker: Broker): Promise<void> {
  for (const sb of await broker.list()) await broker.destroy(sb.id).catch(() => {});
}

/** N creates one at a time, each served by a warm member; their times (ms). */
async function claims(broker: Broker): Promise<number[]> {
  await broker.setPool({ profile: "profile.bench-pool", size: N });
  while ((await broker.pools())[0]?.ready !== N) await broker.refillPools({ perPool: 4 });
  const claim: number[] = [];
  const claimed: string[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    const sb = await broker.create({ profile: "profile.bench-pool" });
    claim.push(performance.now() - t0);
    if (!sb.route?.pool?.served) throw new Error("a bench claim was not served by the pool");
    claimed.push(sb.id);
  }
  for (const id of claimed) await broker.destroy(id);
  return claim;
}

/** The same through the API on loopback (POST, then GET). */
async function apiClaims(broker: Broker, url: string, token: string): Promise<number[]> {
  while ((await broker.pools())[0]?.ready !== N) await broker.refillPools({ perPool: 4 });
  const out: number[] = [];
  for (let i = 0; i < N; i++) {
    const r = await apiCreate(url, token, { profile: "profile.bench-pool" });
    if (!r.pooled) throw new Error("an API bench claim was not served by the pool");
    out.push(r.ms);
  }
  return out;
}

async function burst(broker: Broker, label = ""): Promise<unknown> {
  // A burst of 100 creates (10 at a time) against a pool of 20, the keeper refilling (one at a time) as in `serve`.
  await broker.setPool({ profile: "profile.bench-pool", size: 20 });
  while ((await broker.pools())[0]?.ready !== 20) await broker.refillPools({ perPool: 4 });
  const reaper = startReaper(broker, { intervalMs: 60_000, poolIntervalMs: 20, reconcile: false });
  const made: string[] = [];
  let next = 0;
  let hits = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      while (next < 100) {
        next++;
        const sb = await broker.create({ profile: "profile.bench-pool" });
        if (sb.route?.pool?.served) hits++;
        made.push(sb.id);
      }
    }),
  );
  const burstMs = performance.now() - t0;
  await reaper.stop();
  const st = (await broker.pools())[0];
  console.log(
    `${label}burst of 100 creates (10 in flight) against a pool of 20: ${hits} served warm (hit rate ${hits}%), ${Math.round(burstMs)} ms in all; refill lag mean ${st?.refillLagMs?.mean ?? "-"} ms, last ${st?.refillLagMs?.last ?? "-"} ms over ${st?.refillLagMs?.samples ?? 0} refills`,
  );
  for (const id of made) await broker.destroy(id).catch(() => {});
  return { hits, total: 100, burstMs: Math.round(burstMs), refillLagMs: st?.refillLagMs ?? null };
}

let sqliteClaims: number[] = [];

/** ext.local with the bench profile; SQLite unless `databaseUrl`. */
function localEnv(home: string, databaseUrl = ""): NodeJS.ProcessEnv {
  const profiles = join(root, "profiles");
  mkdirSync(profiles, { recursive: true });
  // The default limits: a cold create makes and loop-mounts a disk image, as a real one does.
  writeFileSync(join(profiles, "profile.bench-pool.yaml"), "id: profile.bench-pool\nversion: 1\nextension: ext.local\nplacement: { hosts: [localhost] }\n");
  return {
    ...process.env,
    SANDBOXER_HOME: join(root, home),
    SANDBOXER_CONFIG: join(root, "none.yaml"),
    SANDBOXER_PROFILES_DIR: profiles,
    SANDBOXER_STATE_HUB_URL: "",
    SANDBOXER_HOST: "",
    SANDBOXER_DATABASE_URL: databaseUrl,
  };
}

async function local(): Promise<void> {
  const broker = createBroker({ env: localEnv("home") });
  try {
    await rawBwrapMs(0);
    await broker.destroy((await broker.create({ profile: "profile.bench-pool" })).id);
    const raw: number[] = [];
    for (let i = 1; i <= 10; i++) raw.push(await rawBwrapMs(i));
    const cold: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      const sb = await broker.create({ profile: "profile.bench-pool" });
      cold.push(performance.now() - t0);
      await broker.destroy(sb.id);
    }
    const claim = await claims(broker);
    sqliteClaims = claim;
    // Through the API on loopback: POST, then GET.
    const token = (await broker.createToken({ actor: "adm" })).token;
    const server = await startServer(broker, { port: 0, rateLimit: 0, accessLog: () => {} });
    let apiClaim: number[] = [];
    const apiCold: number[] = [];
    try {
      apiClaim = await apiClaims(broker, server.url, token);
      await destroyAll(broker);
      await broker.drainPool("profile.bench-pool");
      for (let i = 0; i < 10; i++) {
        const r = await apiCreate(server.url, token, { profile: "profile.bench-pool" });
        apiCold.push(r.ms);
        await broker.destroy(r.id);
      }
    } finally {
      await server.close();
    }
    console.log("ext.local");
    show("  raw bwrap spawn", raw);
    show("  cold create->ready, in process (disk image + cgroups)", cold);
    show("  claim from a warm pool, in process", claim);
    show("  cold create, API (POST + GET)", apiCold);
    show("  claim from a warm pool, API (POST + GET)", apiClaim);
    console.log(
      `  claim vs cold: ${(q(cold, 0.5) / q(claim, 0.5)).toFixed(0)}x faster in process; claim vs raw bwrap spawn: ${(q(claim, 0.5) / q(raw, 0.5)).toFixed(2)}x (target claim p50 <= 2 ms)`,
    );
    results.local = { rawBwrap: stat(raw), cold: stat(cold), claim: stat(claim), apiCold: stat(apiCold), apiClaim: stat(apiClaim) };
    results.burst = await burst(broker);
    await broker.drainPool("profile.bench-pool");
  } finally {
    await destroyAll(broker);
    await broker.close();
  }
}

/** The claims and the burst again with the store on PostgreSQL: members taken with FOR UPDATE SKIP LOCKED. */
async function onPostgres(): Promise<void> {
  const pg = await startPostgres();
  try {
    await makeTemplate(pg.adminUrl);
    const db = await freshDatabase(pg.adminUrl);
    const broker = createBroker({ env: localEnv("home-pg", db.url) });
    try {
      await broker.destroy((await broker.create({ profile: "profile.bench-pool" })).id);
      const claim = await claims(broker);
      const token = (await broker.createToken({ actor: "adm" })).token;
      const server = await startServer(broker, { port: 0, rateLimit: 0, accessLog: () => {} });
      let apiClaim: number[] = [];
      try {
        apiClaim = await apiClaims(broker, server.url, token);
        await destroyAll(broker);
      } finally {
        await server.close();
      }
      console.log("ext.local with the store on PostgreSQL (loopback)");
      show("  claim from a warm pool, in process", claim);
      show("  claim from a warm pool, API (POST + GET)", apiClaim);
      console.log(`  claim p50 on PostgreSQL vs SQLite: ${(q(claim, 0.5) / q(sqliteClaims, 0.5)).toFixed(2)}x`);
      results.postgres = { claim: stat(claim), apiClaim: stat(apiClaim), burst: await burst(broker, "  ") };
      await broker.drainPool("profile.bench-pool");
    } finally {
      await destroyAll(broker);
      await broker.close();
      await db.drop();
    }
  } finally {
    await pg.stop();
  }
}

async function compose(): Promise<void> {
  const f = await startComposeEnv();
  const stack = `services:\n  web:\n    image: ${f.podman.image}\n    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]\n    stop_signal: SIGKILL\n  worker:\n    image: ${f.podman.image}\n    command: ["sleep", "3600"]\n    stop_signal: SIGKILL\n`;
  const repo = f.writeRepo("bench", stack);
  const env = { ...process.env, ...f.env, SANDBOXER_HOME: join(f.dir, "home"), SANDBOXER_HOST: "", SANDBOXER_STATE_HUB_URL: "" };
  const broker = createBroker({ env });
  const body = { profile: "profile.compose-test", host: "sbx-test-host", inputs: { repo } };
  try {
    const token = (await broker.createToken({ actor: "adm" })).token;
    const server = await startServer(broker, { port: 0, rateLimit: 0, accessLog: () => {} });
    const cold: number[] = [];
    const claim: number[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const r = await apiCreate(server.url, token, body);
        cold.push(r.ms);
        await broker.destroy(r.id);
      }
      await broker.setPool({ profile: "profile.compose-test", size: NC, inputs: { repo } });
      while (((await broker.pools())[0]?.ready ?? 0) < NC) await broker.refillPools({ perPool: 2 });
      for (let i = 0; i < NC; i++) {
        const r = await apiCreate(server.url, token, body);
        if (!r.pooled) throw new Error("a compose bench claim was not served by the pool");
        claim.push(r.ms);
      }
    } finally {
      await server.close();
    }
    console.log("compose stack over loopback sshd (podman-compose)");
    show("  cold create, API (POST + GET)", cold);
    show("  claim from a warm pool, API (POST + GET)", claim);
    console.log(`  claim vs cold: ${(q(cold, 0.5) / q(claim, 0.5)).toFixed(0)}x faster (target claim p50 <= 20 ms)`);
    results.compose = { apiCold: stat(cold), apiClaim: stat(claim) };
  } finally {
    await destroyAll(broker);
    for (const p of await broker.pools()) await broker.drainPool(p.profile).catch(() => {});
    await broker.close();
    await f.stop();
  }
}

try {
  await local();
  await onPostgres();
  await compose();
  if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, JSON.stringify(results, null, 2));
} finally {
  await removeTree(root);
}
