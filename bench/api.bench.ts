/**
 * API benchmark (issue 7). `sandboxer serve` runs as its own process (as
 * deployed); 16 concurrent clients drive it over loopback with keep-alive.
 *   GET /v1/sandboxes/{id}                     -> requests/s, p50/p99 latency
 *   the same record from a bare Hono route      -> requests/s; ratio API / bare  target >= 0.5
 *     (its own process, same Node adapter, no auth/store/log; the two alternate
 *     in rounds with the same 16 keep-alive connections)
 *   the same GET with the store on PostgreSQL   -> requests/s beside SQLite's, and its ratio to bare Hono
 *     (a throwaway PostgreSQL 15 on loopback: test/fixtures/postgres.ts)
 *   create+destroy on ext.local, 16 clients   -> cycles/s through the API
 *   the same 16-way create+destroy in-process -> cycles/s calling the broker
 *   overhead ratio = in-process rate / API rate                  target <= 1.3
 * The two create+destroy runs alternate in rounds, so drifting machine load
 * does not favour one.
 * Prints figures; asserts nothing.
 */
import { type ChildProcess, spawn } from "node:child_process";
import http from "node:http";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { createBroker } from "../src/broker.js";
import { SandboxerClient } from "../src/client/index.js";
import { freshDatabase, makeTemplate, type PgServer, startPostgres } from "../test/fixtures/postgres.js";
import { removeTree } from "../test/helpers/home.js";

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 16);
const GET_SECONDS = Number(process.env.BENCH_GET_SECONDS ?? 2);
const READ_ROUNDS = Number(process.env.BENCH_READ_ROUNDS ?? 5);
const CYCLES = Number(process.env.BENCH_CYCLES ?? 128);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
const root = mkdtempSync(join(tmpdir(), "sbx-apibench-"));
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
/** CPU seconds a process has used (user + system, /proc/PID/stat, clock ticks of 1/100 s). */
const cpuSeconds = (pid: number | undefined) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
};
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? Number.NaN;

function envFor(name: string): NodeJS.ProcessEnv {
  return { ...process.env, SANDBOXER_HOME: join(root, name), SANDBOXER_CONFIG: join(root, "none.yaml"), SANDBOXER_STATE_HUB_URL: "", SANDBOXER_URL: "" };
}

async function startServe(env: NodeJS.ProcessEnv, script?: string[]): Promise<{ url: string; child: ChildProcess }> {
  // From source (tsx), not dist/: a concurrent rebuild of dist/ must not break the run.
  const cli = join(import.meta.dirname, "..", "src", "cli", "main.ts");
  const args = script ?? [cli, "serve", "--port", "0", "--json", "--no-reaper", "--rate-limit", "0"];
  const child = spawn(process.execPath, ["--import", "tsx", ...args], { env, stdio: ["ignore", "pipe", "ignore"] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`serve exited ${code}`)));
  });
  return { url: (JSON.parse(line) as { url: string }).url, child };
}

/** `CLIENTS` workers pulling from one shared budget of `total` jobs. */
async function pool(total: number, job: () => Promise<void>): Promise<number> {
  let left = total;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (left-- > 0) await job();
    }),
  );
  return ms(t0);
}

async function main(): Promise<void> {
  // In-process baseline: the broker called directly, 16 creates+destroys in flight.
  const broker = createBroker({ env: envFor("inproc") });
  await broker.destroy((await broker.create({ profile: "profile.local" })).id);
  const inprocBatch = (n: number) =>
    pool(n, async () => {
      const sb = await broker.create({ profile: "profile.local" });
      await broker.destroy(sb.id);
    });

  // Through the API.
  const env = envFor("api");
  const minter = createBroker({ env });
  const { token } = await minter.createToken({ actor: "agt", project: "bench" });
  await minter.close();
  const { url, child } = await startServe(env);
  let bare: ChildProcess | undefined;
  let pgChild: ChildProcess | undefined;
  let pg: PgServer | undefined;
  try {
    const client = new SandboxerClient({ url, token });
    const probe = await client.createSandbox({ profile: "profile.local" });
    // The load generator is plain node:http with keep-alive (like autocannon): fetch costs the
    // client several times the server's work per request, and on 2 cores it would measure itself.
    const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
    const raw = (method: string, path: string, body?: unknown, base = url, bearer = token) =>
      new Promise<string>((resolve, reject) => {
        const req = http.request(
          `${base}${path}`,
          { method, agent, headers: { Authorization: `Bearer ${bearer}`, "Content-Type": "application/json" } },
          (r) => {
            let text = "";
            r.on("data", (d: Buffer) => {
              text += d.toString();
            });
            r.on("end", () => ((r.statusCode ?? 500) < 300 ? resolve(text) : reject(new Error(`${method} ${path}: ${r.statusCode} ${text}`))));
          },
        );
        req.on("error", reject);
        req.end(body === undefined ? undefined : JSON.stringify(body));
      });
    const rawGet = () => raw("GET", `/v1/sandboxes/${probe.id}`);
    const drive = async (fn: () => Promise<unknown>) => {
      const lat: number[] = [];
      const until = Date.now() + GET_SECONDS * 1000;
      const t0 = process.hrtime.bigint();
      await Promise.all(
        Array.from({ length: CLIENTS }, async () => {
          while (Date.now() < until) {
            const s = process.hrtime.bigint();
            await fn();
            lat.push(ms(s));
          }
        }),
      );
      return { lat, secs: ms(t0) / 1000 };
    };
    // Side by side: the API and a bare Hono route serving the same record, alternating rounds.
    const recordFile = join(root, "record.json");
    writeFileSync(recordFile, JSON.stringify(await client.getSandbox(probe.id)));
    const bareServer = await startServe(env, [join(import.meta.dirname, "bare-hono.ts"), recordFile]);
    bare = bareServer.child;
    const bareGet = () => raw("GET", `/v1/sandboxes/${probe.id}`, undefined, bareServer.url);
    await drive(rawGet);
    await drive(bareGet);
    const lat: number[] = [];
    let getSecs = 0;
    let bareCount = 0;
    let bareSecs = 0;
    // The ratio of each round (API, then bare right after), and their median: a load spike hits one round, not the figure.
    // Also the server's CPU per request, which a busy machine disturbs far less than throughput.
    const ratios: number[] = [];
    let apiCpu = 0;
    let bareCpu = 0;
    for (let r = 0; r < READ_ROUNDS; r++) {
      let c0 = cpuSeconds(child.pid);
      const a = await drive(rawGet);
      apiCpu += cpuSeconds(child.pid) - c0;
      lat.push(...a.lat);
      getSecs += a.secs;
      c0 = cpuSeconds(bare.pid);
      const b = await drive(bareGet);
      bareCpu += cpuSeconds(bare.pid) - c0;
      bareCount += b.lat.length;
      bareSecs += b.secs;
      ratios.push(a.lat.length / a.secs / (b.lat.length / b.secs));
    }
    // The same read with the store on PostgreSQL (SANDBOXER_DATABASE_URL), against the same bare route.
    pg = await startPostgres();
    await makeTemplate(pg.adminUrl);
    const pgEnv = { ...envFor("api-pg"), SANDBOXER_DATABASE_URL: (await freshDatabase(pg.adminUrl)).url };
    const pgMinter = createBroker({ env: pgEnv });
    const pgToken = (await pgMinter.createToken({ actor: "agt", project: "bench" })).token;
    await pgMinter.close();
    const pgServer = await startServe(pgEnv);
    pgChild = pgServer.child;
    const pgClient = new SandboxerClient({ url: pgServer.url, token: pgToken });
    const pgProbe = await pgClient.createSandbox({ profile: "profile.local" });
    const pgGet = () => raw("GET", `/v1/sandboxes/${pgProbe.id}`, undefined, pgServer.url, pgToken);
    await drive(pgGet);
    const pgLat: number[] = [];
    let pgSecs = 0;
    const pgRatios: number[] = [];
    for (let r = 0; r < READ_ROUNDS; r++) {
      const a = await drive(pgGet);
      pgLat.push(...a.lat);
      pgSecs += a.secs;
      const b = await drive(bareGet);
      pgRatios.push(a.lat.length / a.secs / (b.lat.length / b.secs));
    }
    await pgClient.destroySandbox(pgProbe.id);
    const viaClient = await drive(() => client.getSandbox(probe.id));
    await client.destroySandbox(probe.id);
    await client.destroySandbox((await client.createSandbox({ profile: "profile.local" })).id);
    // Alternate in-process and API batches, so a load change on the machine hits both alike.
    let apiMs = 0;
    let inprocMs = 0;
    const perRound = Math.max(CLIENTS, Math.floor(CYCLES / ROUNDS));
    for (let r = 0; r < ROUNDS; r++) {
      inprocMs += await inprocBatch(perRound);
      apiMs += await pool(perRound, async () => {
        const sb = JSON.parse(await raw("POST", "/v1/sandboxes", { profile: "profile.local" })) as { id: string };
        await raw("DELETE", `/v1/sandboxes/${sb.id}`);
      });
    }
    const cycles = perRound * ROUNDS;
    agent.destroy();

    const res = {
      clients: CLIENTS,
      getRequests: lat.length,
      getPerSec: lat.length / getSecs,
      getP50Ms: pct(lat, 0.5),
      getP99Ms: pct(lat, 0.99),
      bareHonoGetPerSec: bareCount / bareSecs,
      apiVsBareHono: pct(ratios, 0.5),
      apiVsBareHonoRounds: ratios,
      apiCpuUsPerGet: (apiCpu * 1e6) / lat.length,
      bareHonoCpuUsPerGet: (bareCpu * 1e6) / bareCount,
      typedClientGetPerSec: viaClient.lat.length / viaClient.secs,
      postgresGetPerSec: pgLat.length / pgSecs,
      postgresGetP50Ms: pct(pgLat, 0.5),
      postgresGetP99Ms: pct(pgLat, 0.99),
      postgresVsBareHono: pct(pgRatios, 0.5),
      cycles,
      apiCreateDestroyPerSec: (cycles * 1000) / apiMs,
      inProcessCreateDestroyPerSec: (cycles * 1000) / inprocMs,
      overheadRatio: apiMs / inprocMs,
    };
    const f = (x: number) => x.toFixed(2);
    console.log(
      `GET /v1/sandboxes/{id} with a token, ${CLIENTS} clients, ${READ_ROUNDS}x${GET_SECONDS}s   ${f(res.getPerSec)} req/s  (p50 ${f(res.getP50Ms)} ms, p99 ${f(res.getP99Ms)} ms)`,
    );
    console.log(`  a bare Hono route, the same record              ${f(res.bareHonoGetPerSec)} req/s`);
    console.log(
      `  API / bare Hono                                 ${f(res.apiVsBareHono)}x (target >= 0.5; SQLite; median of rounds ${ratios.map(f).join(" ")})`,
    );
    console.log(
      `  server CPU per GET: API ${f(res.apiCpuUsPerGet)} µs, bare Hono ${f(res.bareHonoCpuUsPerGet)} µs (bare / API = ${f(res.bareHonoCpuUsPerGet / res.apiCpuUsPerGet)}x)`,
    );
    console.log(
      `  the same with the store on PostgreSQL          ${f(res.postgresGetPerSec)} req/s  (p50 ${f(res.postgresGetP50Ms)} ms, p99 ${f(res.postgresGetP99Ms)} ms; / bare Hono ${f(res.postgresVsBareHono)}x)`,
    );
    console.log(`  the same through the typed client (fetch)      ${f(res.typedClientGetPerSec)} req/s`);
    console.log(`create+destroy through the API, ${CLIENTS} clients    ${f(res.apiCreateDestroyPerSec)} /s (${cycles} cycles, ${ROUNDS} rounds)`);
    console.log(`create+destroy in-process broker, ${CLIENTS} workers  ${f(res.inProcessCreateDestroyPerSec)} /s`);
    console.log(`API overhead (API time / in-process time)        ${f(res.overheadRatio)}x (target <= 1.3)`);
    if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, JSON.stringify(res, null, 2));
  } finally {
    await broker.close();
    for (const c of [child, bare, pgChild]) {
      if (!c || c.exitCode !== null) continue;
      c.kill("SIGTERM");
      await new Promise((r) => c.once("exit", r));
    }
    const cleanup = createBroker({ env });
    for (const sb of await cleanup.list({ states: ["ready", "failed", "destroy_failed"] })) await cleanup.destroy(sb.id).catch(() => {});
    await cleanup.close();
    await pg?.stop();
  }
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => removeTree(root));
