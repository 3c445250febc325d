import { SandboxerError } from "../errors.js";
import { type OutgoingEvent, type Row, type Sql, storeError, withEvents } from "./pg-conn.js";
import type { NewEvent } from "./types.js";

/**
 * How the Postgres repositories reach the database: auto-committing on the
 * pool, or inside one transaction on its reserved connection.
 *
 * Events: a transaction keeps the events it appends and writes them last,
 * just before COMMIT, under the events lock (./pg-conn.ts withEvents). The
 * lock is then always the last one a transaction takes and is held only for
 * one statement and the commit: seqs follow commit order, and no two
 * transactions can deadlock over it.
 */
export interface PgCtx {
  readonly inTx: boolean;
  q(text: string, args?: unknown[]): Promise<Row[]>;
  /**
   * A write whose result nobody reads (an INSERT or UPDATE without RETURNING).
   * In a transaction it is sent and not waited for: it rides along with the
   * next statement or COMMIT (one round trip fewer), and its error surfaces
   * there, failing the transaction as it would have anyway (Postgres aborts a
   * transaction at its first failed statement). Outside one it is awaited.
   */
  send(text: string, args?: unknown[]): Promise<void>;
  /** `fn` atomically: in the open transaction, or in a new one. */
  atomic<T>(fn: (c: PgCtx) => Promise<T>): Promise<T>;
  /** Append events (in a transaction: at its commit). */
  emit(events: readonly NewEvent[]): Promise<void>;
  /** Run `source` (an UPDATE ... RETURNING); the events are written only when it returned rows, atomically with it. */
  gated(source: string, args: unknown[], events: readonly NewEvent[]): Promise<Row[]>;
  /**
   * The sandbox's pool is about to change (was `pool`): events already
   * appended for it in this transaction keep `pool`, as if written now.
   */
  pinPool(sandboxId: string, pool: string | null): void;
}

/**
 * Every statement as a named prepared statement, parameters or not:
 * postgres.js sends a statement without parameters as a simple query, which
 * the server parses and plans every time (reconcile's read of suspects cost
 * 0.36 ms of server time that way, planning a three-part UNION per create).
 * `simple` is missing from the driver's types.
 */
const PREPARED = { prepare: true, simple: false } as { prepare: boolean };

/**
 * Auto-committing statements. `hot` is a pool of one connection that takes
 * a statement whenever it has none in flight; the main pool gets the rest.
 * postgres.js hands each query to the idle connection that waited longest,
 * so statements sent one after another would each wake a different server
 * process, and on a small machine that costs more than the round trip (a
 * create's store calls replayed: 7.9 ms over a pool of 10, 4.5 ms with the
 * hot connection; bench/store.bench.ts).
 */
export function autoCtx(sql: Sql, url: string, ready: () => Promise<void> | undefined, hot?: Sql): PgCtx {
  let hotBusy = false;
  const q = async (text: string, args: unknown[] = []): Promise<Row[]> => {
    const wait = ready();
    if (wait) await wait;
    const onHot = hot !== undefined && !hotBusy;
    if (onHot) hotBusy = true;
    try {
      return (await (onHot ? (hot as Sql) : sql).unsafe(text, args as never[], PREPARED)) as unknown as Row[];
    } catch (err) {
      throw storeError(err, url);
    } finally {
      if (onHot) hotBusy = false;
    }
  };
  const ctx: PgCtx = {
    inTx: false,
    q,
    send: async (text, args) => {
      await q(text, args);
    },
    atomic: (fn) => transaction(sql, url, ready, fn),
    async emit(events) {
      if (!events.length) return;
      const s = withEvents("SELECT 1", [], events, "1 AS ok");
      await q(s.sql, s.args);
    },
    async gated(source, args, events) {
      if (!events.length) return q(source, args);
      const s = withEvents(source, args, events);
      return q(s.sql, s.args);
    },
    // Nothing waits here: every event was written by the statement that appended it.
    pinPool() {},
  };
  return ctx;
}

/**
 * BEGIN ... COMMIT on a reserved connection, ROLLBACK when `fn` throws.
 * BEGIN goes out with the transaction's first statement, writes whose result
 * nobody reads (`send`) with the next one, and the events with COMMIT
 * (postgres.js pipelines queries on one connection): a create's first
 * transaction (insert the record, its event) is one round trip.
 */
export async function transaction<T>(sql: Sql, url: string, ready: () => Promise<void> | undefined, fn: (c: PgCtx) => Promise<T>): Promise<T> {
  const wait = ready();
  if (wait) await wait;
  let conn: Awaited<ReturnType<Sql["reserve"]>>;
  try {
    conn = await sql.reserve();
  } catch (err) {
    throw storeError(err, url);
  }
  // Started at once (postgres.js starts a query when first awaited): the connection gets them in call order.
  const raw = (text: string, args: unknown[] = []) => conn.unsafe(text, args as never[], PREPARED).execute() as unknown as Promise<Row[]>;
  // Sent, not yet waited for (BEGIN, `send` writes): settled before any later result is handed out or the commit.
  const unread: Promise<unknown>[] = [];
  const defer = (p: Promise<unknown>) => {
    p.catch(() => {});
    unread.push(p);
  };
  /** The first failure among the unread statements (the cause; what follows it only says "transaction aborted"). */
  const settleUnread = async () => {
    const settled = await Promise.allSettled(unread.splice(0));
    const failed = settled.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
  };
  const q = async (text: string, args: unknown[] = []): Promise<Row[]> => {
    const p = raw(text, args);
    if (unread.length) {
      p.catch(() => {});
      await settleUnread();
    }
    return p;
  };
  defer(raw("BEGIN"));
  const pending: OutgoingEvent[] = [];
  const ctx: PgCtx = {
    inTx: true,
    q,
    async send(text, args) {
      defer(raw(text, args));
    },
    atomic: (inner) => inner(ctx),
    async emit(events) {
      // Copies: pinPool marks them, never the caller's objects.
      pending.push(...events.map((e) => ({ ...e })));
    },
    async gated(source, args, events) {
      const rows = await q(source, args);
      if (rows.length) pending.push(...events.map((e) => ({ ...e })));
      return rows;
    },
    pinPool(sandboxId, pool) {
      for (const e of pending) if (e.sandboxId === sandboxId && e.pool === undefined) e.pool = pool;
    },
  };
  try {
    const out = await fn(ctx);
    if (pending.length) {
      const s = withEvents("SELECT 1", [], pending, "1 AS ok");
      defer(raw(s.sql, s.args));
    }
    const commit = conn.unsafe("COMMIT").execute();
    defer(commit as unknown as Promise<unknown>);
    await settleUnread();
    // COMMIT of a transaction in which a statement failed (and `fn` swallowed the error) is a ROLLBACK.
    if ((await commit).command !== "COMMIT") throw new SandboxerError("SBX_STORE", "PostgreSQL rolled the transaction back: one of its statements failed");
    return out;
  } catch (err) {
    await conn.unsafe("ROLLBACK").catch(() => {});
    throw storeError(err, url);
  } finally {
    conn.release();
  }
}
