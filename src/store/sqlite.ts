import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import { SandboxerError } from "../errors.js";
import { type Gate, gateFor } from "./gate.js";
import { MIGRATIONS } from "./migrations/index.js";
import { asAsync, Conn, type Sync } from "./sqlite-conn.js";
import { sqliteCredits } from "./sqlite-credits.js";
import { sqliteIdempotency, sqliteLeases, sqliteSnapshots, sqliteTokens, sqliteUiSessions } from "./sqlite-misc.js";
import { sqlitePools } from "./sqlite-pools.js";
import { sqliteEvents, sqliteSandboxes } from "./sqlite-sandboxes.js";
import type {
  CreditRepo,
  EventRepo,
  IdempotencyRepo,
  LeaseRepo,
  PoolRepo,
  Repos,
  SandboxRepo,
  SnapshotRepo,
  Store,
  TokenRepo,
  Tx,
  UiSessionRepo,
} from "./types.js";

export type * from "./types.js";

type SyncRepos = {
  sandboxes: Sync<SandboxRepo>;
  events: Sync<EventRepo>;
  snapshots: Sync<SnapshotRepo>;
  credits: Sync<CreditRepo>;
  tokens: Sync<TokenRepo>;
  idempotency: Sync<IdempotencyRepo>;
  leases: Sync<LeaseRepo>;
  pools: Sync<PoolRepo>;
  uiSessions: Sync<UiSessionRepo>;
};

type Runner = <R>(op: () => R) => Promise<R>;

function bind(sync: SyncRepos, run: Runner): Omit<Repos, "tx"> {
  return {
    sandboxes: asAsync<SandboxRepo>(sync.sandboxes, run),
    events: asAsync<EventRepo>(sync.events, run),
    snapshots: asAsync<SnapshotRepo>(sync.snapshots, run),
    credits: asAsync<CreditRepo>(sync.credits, run),
    tokens: asAsync<TokenRepo>(sync.tokens, run),
    idempotency: asAsync<IdempotencyRepo>(sync.idempotency, run),
    leases: asAsync<LeaseRepo>(sync.leases, run),
    pools: asAsync<PoolRepo>(sync.pools, run),
    uiSessions: asAsync<UiSessionRepo>(sync.uiSessions, run),
  };
}

/** Inside a transaction the statements run at once: the gate is already ours. */
const direct: Runner = (op) => {
  try {
    return Promise.resolve(op());
  } catch (err) {
    return Promise.reject(err);
  }
};

/**
 * SQLite state store: WAL so readers never block the writer, a busy timeout so
 * concurrent processes queue instead of failing, and BEGIN IMMEDIATE for every
 * write transaction so two processes cannot both read-then-write the same row.
 * Within this process the gate (./gate.ts) keeps async transactions from
 * interleaving on the one connection.
 */
export class SqliteStore implements Store {
  readonly kind = "sqlite";
  readonly sandboxes: SandboxRepo;
  readonly events: EventRepo;
  readonly snapshots: SnapshotRepo;
  readonly credits: CreditRepo;
  readonly tokens: TokenRepo;
  readonly idempotency: IdempotencyRepo;
  readonly leases: LeaseRepo;
  readonly pools: PoolRepo;
  readonly uiSessions: UiSessionRepo;
  private readonly db: Database.Database;
  private readonly conn: Conn;
  private readonly gate: Gate;
  private readonly releaseGate: () => void;
  private readonly txRepos: Tx;
  private closed = false;

  constructor(file: string) {
    const path = file === ":memory:" ? file : resolve(file);
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    try {
      this.db = new Database(path);
      this.db.pragma("journal_mode = WAL");
      this.db.pragma("busy_timeout = 15000");
      this.db.pragma("synchronous = NORMAL");
      this.db.pragma("foreign_keys = ON");
    } catch (err) {
      throw new SandboxerError("SBX_STORE", `cannot open ${file}: ${(err as Error).message}`, { cause: err });
    }
    this.conn = new Conn(this.db);
    this.migrate();
    const events = sqliteEvents(this.conn);
    const sync: SyncRepos = {
      sandboxes: sqliteSandboxes(this.conn, events),
      events,
      snapshots: sqliteSnapshots(this.conn),
      credits: sqliteCredits(this.conn),
      tokens: sqliteTokens(this.conn),
      idempotency: sqliteIdempotency(this.conn),
      leases: sqliteLeases(this.conn),
      pools: sqlitePools(this.conn),
      uiSessions: sqliteUiSessions(this.conn),
    };
    const { gate, done } = gateFor(path);
    this.gate = gate;
    this.releaseGate = done;
    const auto = bind(sync, (op) => this.gate.run(op));
    this.sandboxes = auto.sandboxes;
    this.events = auto.events;
    this.snapshots = auto.snapshots;
    this.credits = auto.credits;
    this.tokens = auto.tokens;
    this.idempotency = auto.idempotency;
    this.leases = auto.leases;
    this.pools = auto.pools;
    this.uiSessions = auto.uiSessions;
    const txRepos: Tx = { ...bind(sync, direct), inTransaction: true, tx: (fn) => fn(txRepos) };
    this.txRepos = txRepos;
  }

  private migrate(): void {
    this.db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)");
    // Apply every migration not yet recorded, not only those above the highest: numbers are
    // reserved per feature, so a store may have met 004 before 003 existed.
    const applied = () => new Set((this.db.prepare("SELECT version FROM schema_migrations").all() as { version: number }[]).map((r) => r.version));
    const have = applied();
    if (MIGRATIONS.every((m) => have.has(m.version))) return;
    this.conn.atomic(() => {
      // Re-read inside the write lock: another process may have migrated meanwhile.
      const done = applied();
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        this.db.exec(m.sql);
        this.db.prepare("INSERT INTO schema_migrations VALUES (?, ?, ?)").run(m.version, m.name, new Date().toISOString());
      }
    });
  }

  /**
   * BEGIN IMMEDIATE (the write lock is taken up front, so the reads in `fn`
   * are as of the lock), COMMIT when `fn` resolves, ROLLBACK when it throws.
   */
  tx<T>(fn: (t: Tx) => Promise<T>): Promise<T> {
    return this.gate.hold(async () => {
      this.conn.stmt("BEGIN IMMEDIATE").run();
      try {
        const out = await fn(this.txRepos);
        this.conn.stmt("COMMIT").run();
        return out;
      } catch (err) {
        if (this.db.inTransaction) this.conn.stmt("ROLLBACK").run();
        throw err;
      }
    });
  }

  schemaVersion(): Promise<number> {
    return this.gate.run(() => (this.conn.stmt("SELECT MAX(version) AS v FROM schema_migrations").get() as { v: number }).v);
  }

  /** Waits for a transaction in flight, then closes the connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.gate.run(() => this.db.close());
    this.releaseGate();
  }
}
