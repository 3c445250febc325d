import postgres from "postgres";
import { SandboxerError } from "../errors.js";
import type { NewEvent } from "./types.js";

export type Row = Record<string, unknown>;

/** int8 (BIGINT, COUNT(*)) comes back as a number: our amounts stay far below 2^53. */
const INT8 = { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) };

export type Sql = postgres.Sql<{ int8: number }>;

/** Channel that carries the highest `seq` of each commit that wrote events (payload: the seq). */
export const EVENTS_CHANNEL = "sandboxer_events";

/**
 * The one lock every event-writing transaction takes, last, just before it
 * commits (see ./pg-tx.ts): event seqs are then handed out in commit order, so
 * a reader that saw seq N has seen every event below N (Last-Event-ID is exact).
 */
export const EVENTS_LOCK = 7428_0001;

/** The URL with its password replaced, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "postgres://(unparseable URL)";
  }
}

export function connect(url: string, opts: { max?: number; onStatement?: ((sql: string) => void) | undefined } = {}): Sql {
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new SandboxerError("SBX_CONFIG_INVALID", `SANDBOXER_DATABASE_URL: '${redactUrl(url)}' is not a postgres:// URL`, {
      details: { field: "SANDBOXER_DATABASE_URL" },
    });
  }
  const { url: target, path } = socketOf(url);
  return postgres(target, {
    ...(path ? { path } : {}),
    max: opts.max ?? 10,
    types: { int8: INT8 },
    onnotice: () => {},
    connect_timeout: 10,
    // The array-type lookup on each new connection stays on although no array types are used:
    // with it off, a `reserve()` (our transactions) that has to open a connection is never handed
    // that connection (porsager/postgres#751, #1219 in 3.4.9); it waits for another to free up,
    // and the new one is stranded. Connections live long (idle_timeout), so the lookup is rare.
    fetch_types: true,
    // Idle connections go after a while, so a quiet replica does not pin server slots.
    idle_timeout: 60,
    connection: { application_name: "sandboxer" },
    ...(opts.onStatement ? { debug: (_conn: number, query: string) => opts.onStatement?.(query) } : {}),
  });
}

/**
 * libpq's way to name a Unix socket, `postgres:///db?host=/var/run/postgresql`
 * (the directory; the port names the socket file): how a server on the same
 * machine is usually reached (peer authentication, no TCP listener).
 * postgres.js would send `host` to the server as a setting and fail.
 */
function socketOf(url: string): { url: string; path?: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { url };
  }
  const dir = u.searchParams.get("host");
  if (!dir?.startsWith("/")) return { url };
  u.searchParams.delete("host");
  return { url: u.toString(), path: `${dir.replace(/\/+$/, "")}/.s.PGSQL.${u.port || "5432"}` };
}

const UNREACHABLE = [
  "ECONNREFUSED",
  // A Unix socket that is not there, or not ours to use.
  "ENOENT",
  "EACCES",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "ECONNRESET",
  "EPIPE",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
];

/**
 * A driver or server error as SBX_STORE naming the server (never its
 * password); anything else (a SandboxerError or an error thrown by the
 * caller's transaction body) passes through untouched.
 */
export function storeError(err: unknown, url: string): unknown {
  const e = err as { name?: string; code?: string; message?: string };
  if (err instanceof SandboxerError) return err;
  if (e?.code && UNREACHABLE.includes(e.code))
    return new SandboxerError("SBX_STORE", `cannot reach PostgreSQL at ${redactUrl(url)} (${e.code})`, { cause: err });
  if (e?.name === "PostgresError") return new SandboxerError("SBX_STORE", `PostgreSQL: ${e.message}`, { cause: err, details: { sqlstate: e.code } });
  return err;
}

/** `$1, $2, ...` from `start` for `n` values. */
export function params(n: number, start = 1): string {
  return Array.from({ length: n }, (_, i) => `$${start + i}`).join(", ");
}

const EVENT_COLS = ["id", "type", "sandbox_id", "at", "actor", "project", "data", "next_attempt_at"] as const;

/**
 * An event on its way to the table. `pool` is its sandbox's pool when the
 * event was appended, pinned only when the transaction changed that pool
 * afterwards (a hand-over); unpinned, the sandbox's pool as the insert sees
 * it is the same thing.
 */
export type OutgoingEvent = NewEvent & { pool?: string | null };

function eventValues(events: readonly OutgoingEvent[], start: number): { sql: string; args: unknown[] } {
  const args: unknown[] = [];
  const rows = events.map((e) => {
    const at = args.length + start;
    args.push(e.id, e.type, e.sandboxId, e.at, e.actor, e.project, JSON.stringify(e.data), e.at, e.pool ?? null);
    return `(${params(EVENT_COLS.length + 1, at)})`;
  });
  return { sql: `VALUES ${rows.join(", ")}`, args };
}

/**
 * One statement that takes the events lock after `source` has produced its
 * rows, inserts `events` and notifies listeners at commit. `source` is a CTE
 * body (an UPDATE ... RETURNING, or `SELECT 1`) whose rows gate the insert:
 * no row, no event. Its parameters come first.
 */
export function withEvents(source: string, sourceArgs: unknown[], events: readonly OutgoingEvent[], columns = "main.*"): { sql: string; args: unknown[] } {
  const v = eventValues(events, sourceArgs.length + 1);
  const cols = EVENT_COLS.join(", ");
  // An event keeps its sandbox's pool (migration 014): a warm member's history stays hidden after its hand-over.
  const pool = "COALESCE(v.pinned, (SELECT s.pool FROM sandboxes s WHERE s.id = v.sandbox_id))";
  // Data-modifying CTEs always run; `lk` reads `main`, so the lock comes after its row locks (never before:
  // a transaction holding the events lock must not wait for anything else, or two could deadlock).
  const sql = `WITH main AS (${source}),
lk AS MATERIALIZED (SELECT pg_advisory_xact_lock(${EVENTS_LOCK}) AS l FROM (SELECT 1 FROM main LIMIT 1) m),
ins AS (INSERT INTO events (${cols}, pool) SELECT ${EVENT_COLS.map((c) => `v.${c}`).join(", ")}, ${pool} FROM lk, (${v.sql}) AS v(${cols}, pinned) RETURNING seq),
nt AS MATERIALIZED (SELECT pg_notify('${EVENTS_CHANNEL}', MAX(seq)::text) AS n FROM ins HAVING COUNT(*) > 0)
SELECT ${columns} FROM main LEFT JOIN nt ON true`;
  return { sql, args: [...sourceArgs, ...v.args] };
}
