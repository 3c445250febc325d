/**
 * Store benchmark (issue 13): SQLite against PostgreSQL 15 on loopback (a
 * throwaway server: test/fixtures/postgres.ts, fsync off like the tests).
 *   database time per create         in-process broker, one create at a time, profile.local: the
 *                                     database's own work (SQLite: its calls, in process; Postgres:
 *                                     its statements' planning and execution)  target: Postgres <= 2x SQLite
 *                                     beside it the server's whole CPU time and the time the create
 *                                     waits on the store (round trips included)
 *   creates/s and p99 through serve   ext.local, 16 clients: 1 replica on SQLite, 1 and 3 on Postgres
 *   failover                          kill -9 of a replica with creates in flight -> all of them
 *                                     reconciled by another (owner lease 5 s, reaper every 1 s)
 *   event fan-out                     commit by a store client -> the SSE line on a replica, p50/p99
 *                                     (Postgres: LISTEN/NOTIFY; SQLite: the 100 ms poll)  target p99 < 50 ms
 * Prints figures; asserts nothing.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { createBroker } from "../src/broker.js";
import type { Env } from "../src/config.js";
import { PostgresStore } from "../src/store/postgres.js";
import { SqliteStore } from "../src/store/sqlite.js";
import type { Repos, Store } from "../src/store/types.js";
import { freshDatabase, makeTemplate, startPostgres } from "../test/fixtures/postgres.js";
import { api, follow, type Replica, startReplica } from "../test/fixtures/replicas.js";
import { removeTree } from "../test/helpers/home.js";
import { serverCpuMs } from "./pg-cpu.js";
import { recording, replay } from "./store-replay.js";

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 16);
const CREATES = Number(process.env.BENCH_STORE_CREATES ?? 40);
const API_CREATES = Number(process.env.BENCH_API_CREATES ?? 96);
const FANOUT = Number(process.env.BENCH_FANOUT ?? 200);
const root = mkdtempSync(join(tmpdir(), "sbx-storebench-"));
const CLI = join(import.meta.dirname, "..", "dist", "cli.js");
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? Number.NaN;
const f = (x: number) => x.toFixed(2);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function envFor(name: string, extra: Env = {}): Env {
  return {
    ...process.env,
    SANDBOXER_HOME: join(root, name),
    SANDBOXER_CONFIG: join(root, "none.yaml"),
    SANDBOXER_STATE_HUB_URL: "",
    SANDBOXER_URL: "",
    SANDBOXER_HOST: "",
    ...extra,
  };
}

/**
 * A store that adds up the time during which at least one of its calls or
 * transactions is in flight (overlapping reads count once, as the wall time
 * the broker waits on the store). Progress notes are left out: they are
 * written in the background and nobody waits for them (src/broker/runtime.ts);
 * on SQLite such a write waits for the next turn of the event loop, so it
 * was charged whatever the extension did synchronously meanwhile (most of
 * SQLite's figure before).
 */
function timed(store: Store): { store: Store; ms: () => number } {
  let total = 0;
  let active = 0;
  let since = 0;
  const clock = <T>(p: Promise<T>): Promise<T> => {
    if (active++ === 0) since = performance.now();
    return p.finally(() => {
      if (--active === 0) total += performance.now() - since;
    });
  };
  const background = (k: string | symbol, a: unknown[]) => k === "append" && (a[0] as { type?: string } | undefined)?.type === "sandbox.progress";
  const wrap = <R extends object>(repo: R): R =>
    new Proxy(repo, {
      get: (t, k) => {
        const v = (t as Record<string | symbol, unknown>)[k];
        if (typeof v !== "function") return v;
        return (...a: unknown[]) => {
          const p = (v as (...x: unknown[]) => Promise<unknown>).apply(t, a);
          return background(k, a) ? p : clock(p);
        };
      },
    });
  const repos: (keyof Repos)[] = ["sandboxes", "events", "snapshots", "credits", "tokens", "idempotency", "leases", "pools"];
  const proxy = new Proxy(store, {
    get(t, k) {
      if (repos.includes(k as keyof Repos)) return wrap(t[k as keyof Repos] as object);
      if (k === "tx") return <T>(fn: (tx: Parameters<Parameters<Store["tx"]>[0]>[0]) => Promise<T>) => clock(t.tx(fn));
      const v = (t as unknown as Record<string | symbol, unknown>)[k];
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
  return { store: proxy, ms: () => total };
}

async function dbTimePerCreate(store: Store, env: Env, mark: (phase: "start" | "end") => Promise<void> | void = () => {}): Promise<number> {
  const t = timed(store);
  const broker = createBroker({ env, store: t.store });
  try {
    await broker.destroy((await broker.create({ profile: "profile.local" })).id);
    const ids: string[] = [];
    const start = t.ms();
    await mark("start");
    for (let i = 0; i < CREATES; i++) ids.push((await broker.create({ profile: "profile.local" })).id);
    await mark("end");
    const per = (t.ms() - start) / CREATES;
    for (const id of ids) await broker.destroy(id);
    return per;
  } finally {
    await broker.close();
  }
}

/** One real create's store calls (recorded on SQLite), replayed back to back on each store: the database's own cost per create. */
async function replayed(pgUrl: string): Promise<{ sqlite: number; postgres: number }> {
  const rec = recording(new SqliteStore(join(root, "replay-rec", "sandboxer.db")));
  const broker = createBroker({ env: envFor("replay-rec"), store: rec.store });
  try {
    await broker.destroy((await broker.create({ profile: "profile.local" })).id);
    rec.on(true);
    const id = (await broker.create({ profile: "profile.local" })).id;
    rec.on(false);
    await broker.destroy(id);
  } finally {
    await broker.close();
  }
  const out = { sqlite: 0, postgres: 0 };
  for (const [name, store] of [
    ["sqlite", new SqliteStore(join(root, "replay-sqlite", "sandboxer.db"))],
    ["postgres", new PostgresStore(pgUrl)],
  ] as const) {
    try {
      await replay(store, rec.steps, 3); // statements prepared, connections open
      out[name] = await replay(store, rec.steps, CREATES);
    } finally {
      await store.close();
    }
  }
  const calls = rec.steps.reduce((n, s) => n + ("tx" in s ? s.tx.length : s.calls.length), 0);
  console.log(`the same create's store calls replayed back to back (${calls} calls in ${rec.steps.length} steps, ${CREATES} times):`);
  console.log(`  SQLite ${f(out.sqlite)} ms, Postgres ${f(out.postgres)} ms per create   Postgres / SQLite ${f(out.postgres / out.sqlite)}x (target <= 2)`);
  return out;
}

/** Planning and execution time of every statement run so far in the database of `url` (pg_stat_statements), in ms. */
async function statementsMs(adminUrl: string, url: string): Promise<number> {
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await sql`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`;
    const name = new URL(url).pathname.slice(1);
    const [r] =
      await sql`SELECT COALESCE(SUM(s.total_plan_time + s.total_exec_time), 0)::float8 AS ms FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = ${name}`;
    return Number(r?.ms ?? 0);
  } finally {
    await sql.end();
  }
}

/** The raw tool: one `SELECT 1` at a time on one postgres.js connection, p50 in ms (what a round trip costs on this machine now). */
async function bareRoundTrip(url: string): Promise<number> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql`SELECT 1`;
    const lat: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      await sql`SELECT 1`;
      lat.push(performance.now() - t0);
    }
    return pct(lat, 0.5);
  } finally {
    await sql.end();
  }
}

async function mintToken(env: Env): Promise<string> {
  const b = createBroker({ env });
  try {
    return (await b.createToken({ actor: "adm" })).token;
  } finally {
    await b.close();
  }
}

async function throughput(label: string, env: Env, replicas: number): Promise<{ perSec: number; p99: number; p50: number }> {
  const token = await mintToken(env);
  const servers: Replica[] = [];
  try {
    for (let i = 0; i < replicas; i++) servers.push(await startReplica({ ...env, SANDBOXER_REPLICA_ID: `bench-${i}` }, ["--no-reaper"], { cli: CLI }));
    const lat: number[] = [];
    const ids: string[] = [];
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (next < API_CREATES) {
          const i = next++;
          const s = performance.now();
          const r = await api<{ id: string }>(servers[i % replicas] as Replica, token, "POST", "/v1/sandboxes", { profile: "profile.local" });
          if (r.status !== 201) throw new Error(`create: ${r.status} ${JSON.stringify(r.body)}`);
          lat.push(performance.now() - s);
          ids.push(r.body.id);
        }
      }),
    );
    const secs = (performance.now() - t0) / 1000;
    let d = 0;
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (d < ids.length) await api(servers[d % replicas] as Replica, token, "DELETE", `/v1/sandboxes/${ids[d++]}`);
      }),
    );
    const res = { perSec: API_CREATES / secs, p50: pct(lat, 0.5), p99: pct(lat, 0.99) };
    console.log(
      `creates through serve, ${label.padEnd(22)} ${f(res.perSec)} /s  (p50 ${f(res.p50)} ms, p99 ${f(res.p99)} ms; ${API_CREATES} creates, ${CLIENTS} clients)`,
    );
    return res;
  } catch (err) {
    // A replica that died: what it said.
    for (const s of servers)
      if (s.child.exitCode !== null || s.child.signalCode !== null) console.error(`${s.id} exited ${s.child.exitCode ?? s.child.signalCode}: ${s.stderr()}`);
    throw err;
  } finally {
    for (const s of servers) await s.stop();
  }
}

async function failover(env: Env): Promise<number> {
  const token = await mintToken(env);
  const leaseEnv = { ...env, SANDBOXER_OWNER_LEASE: "5" };
  const admin = createBroker({ env });
  await admin.addCredits({ account: "default", amount: 1000 });
  await admin.close();
  const survivors = [await startReplica({ ...leaseEnv, SANDBOXER_REPLICA_ID: "survivor-1" }, ["--reaper-interval", "1"], { cli: CLI })];
  const victim = await startReplica({ ...leaseEnv, SANDBOXER_REPLICA_ID: "victim", SANDBOXER_SAAS_STUB_DELAY_MS: "60000" }, ["--no-reaper"], { cli: CLI });
  const store = new PostgresStore(env.SANDBOXER_DATABASE_URL as string);
  try {
    const made = await Promise.all(
      Array.from({ length: 8 }, () => api<{ id: string }>(victim, token, "POST", "/v1/sandboxes?wait=false", { profile: "profile.saas-stub" })),
    );
    const ids = made.map((m) => m.body.id);
    await sleep(500);
    const t0 = performance.now();
    await victim.kill();
    for (;;) {
      const rows = await Promise.all(ids.map((id) => store.sandboxes.get(id)));
      if (rows.every((r) => r?.state === "failed")) break;
      await sleep(50);
    }
    const secs = (performance.now() - t0) / 1000;
    console.log(`failover: kill -9 -> its 8 in-flight creates reconciled by another replica   ${f(secs)} s  (owner lease 5 s, reaper every 1 s)`);
    return secs;
  } finally {
    await store.close();
    for (const s of survivors) await s.stop();
  }
}

async function fanout(label: string, env: Env, writer: Store): Promise<{ p50: number; p99: number }> {
  const token = await mintToken(env);
  const b = await startReplica({ ...env, SANDBOXER_REPLICA_ID: "reader" }, ["--no-reaper"], { cli: CLI });
  try {
    const last = (await writer.events.list({ limit: 1_000_000 })).at(-1)?.seq ?? 0;
    const stream = follow(b, token, last);
    await stream.opened;
    const lat: number[] = [];
    for (let i = 0; i < FANOUT; i++) {
      const id = `evt-fanout${String(i).padStart(10, "0")}`;
      const before = stream.events.length;
      await writer.events.append({ id, type: "bench.fanout", sandboxId: null, at: new Date().toISOString(), actor: "adm", project: null, data: { i } });
      const t0 = performance.now();
      while (stream.events.length === before) await sleep(0.2);
      lat.push(performance.now() - t0);
      await sleep(5);
    }
    stream.close();
    const res = { p50: pct(lat, 0.5), p99: pct(lat, 0.99) };
    console.log(`event fan-out, commit -> SSE line on a replica, ${label.padEnd(10)} p50 ${f(res.p50)} ms, p99 ${f(res.p99)} ms  (${FANOUT} events)`);
    return res;
  } finally {
    await b.stop();
  }
}

async function main(): Promise<void> {
  const pg = await startPostgres({ shared_preload_libraries: "pg_stat_statements", "pg_stat_statements.track_planning": "on" });
  try {
    await makeTemplate(pg.adminUrl);
    const db = async () => (await freshDatabase(pg.adminUrl)).url;

    const sqliteEnv = envFor("dbtime-sqlite");
    const pgUrl = await db();
    const sqliteMs = await dbTimePerCreate(new SqliteStore(join(root, "dbtime-sqlite", "sandboxer.db")), sqliteEnv);
    // Statements sent in one turn of the event loop go out together (pipelined, or at once on several
    // connections): one wait for the answers, counted as one round trip.
    let statements = 0;
    let trips = 0;
    let inTurn = false;
    const counting = new PostgresStore(pgUrl, {
      onStatement: () => {
        statements++;
        if (inTurn) return;
        inTurn = true;
        trips++;
        setImmediate(() => {
          inTurn = false;
        });
      },
    });
    const mark = { start: [0, 0, 0, 0], end: [0, 0, 0, 0] };
    const pgMs = await dbTimePerCreate(counting, envFor("dbtime-pg", { SANDBOXER_DATABASE_URL: pgUrl }), async (phase) => {
      mark[phase] = [statements, trips, serverCpuMs(join(pg.dir, "data")), await statementsMs(pg.adminUrl, pgUrl)];
    });
    const between = (i: number) => ((mark.end[i] ?? 0) - (mark.start[i] ?? 0)) / CREATES;
    const [perCreate, tripsPerCreate, pgCpuMs, pgStatementsMs] = [between(0), between(1), between(2), between(3)];
    const bare = await bareRoundTrip(pgUrl);
    console.log(`database time per create (${CREATES} creates of profile.local, one at a time):`);
    console.log(`  SQLite    ${f(sqliteMs)} ms  the time its calls take (it works in process)`);
    console.log(
      `  Postgres  ${f(pgStatementsMs)} ms  its statements' planning and execution (pg_stat_statements)   / SQLite ${f(pgStatementsMs / sqliteMs)}x (target <= 2)`,
    );
    console.log(`  Postgres  ${f(pgCpuMs)} ms  all CPU time of the server's processes (/proc/<pid>/schedstat)   / SQLite ${f(pgCpuMs / sqliteMs)}x`);
    console.log(`time a create waits on the store: SQLite ${f(sqliteMs)} ms, Postgres ${f(pgMs)} ms (${f(pgMs / sqliteMs)}x)`);
    console.log(
      `  Postgres: ${f(perCreate)} statements in ${f(tripsPerCreate)} round trips (progress notes included), ${f(pgMs / tripsPerCreate)} ms each here; a bare SELECT 1 round trip is ${f(bare)} ms (p50 of 200)`,
    );

    const replay = await replayed(await db());

    const one = await throughput("1 replica, SQLite", envFor("tp-sqlite"), 1);
    const pgOne = await throughput("1 replica, Postgres", envFor("tp-pg1", { SANDBOXER_DATABASE_URL: await db() }), 1);
    const pgThree = await throughput("3 replicas, Postgres", envFor("tp-pg3", { SANDBOXER_DATABASE_URL: await db() }), 3);

    const failoverSecs = await failover(envFor("failover", { SANDBOXER_DATABASE_URL: await db() }));

    const fanUrl = await db();
    const pgWriter = new PostgresStore(fanUrl);
    const pgFan = await fanout("Postgres", envFor("fan-pg", { SANDBOXER_DATABASE_URL: fanUrl }), pgWriter);
    await pgWriter.close();
    const sqliteWriter = new SqliteStore(join(root, "fan-sqlite", "sandboxer.db"));
    const sqliteFan = await fanout("SQLite", envFor("fan-sqlite"), sqliteWriter);
    await sqliteWriter.close();

    const res = {
      dbMsPerCreate: {
        sqlite: sqliteMs,
        postgresStatements: pgStatementsMs,
        ratio: pgStatementsMs / sqliteMs,
        postgresServerCpu: { ms: pgCpuMs, ratio: pgCpuMs / sqliteMs },
        waitOnStore: { sqlite: sqliteMs, postgres: pgMs, ratio: pgMs / sqliteMs },
        postgresStatementsPerCreate: perCreate,
        postgresRoundTripsPerCreate: tripsPerCreate,
        bareRoundTripMs: bare,
        replayed: { ...replay, ratio: replay.postgres / replay.sqlite },
      },
      createsThroughServe: { sqlite1: one, postgres1: pgOne, postgres3: pgThree },
      failoverSeconds: failoverSecs,
      fanout: { postgres: pgFan, sqlite: sqliteFan },
    };
    if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, JSON.stringify(res, null, 2));
  } finally {
    await pg.stop();
  }
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  // Spare workspace filesystems of the local sandboxes stay mounted: unmounted first.
  .finally(() => removeTree(root));
