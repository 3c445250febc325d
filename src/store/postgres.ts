import { connect, EVENTS_CHANNEL, redactUrl, type Sql, storeError } from "./pg-conn.js";
import { autoCtx, type PgCtx, transaction } from "./pg-ctx.js";
import { pgCredits } from "./pg-credits.js";
import { PG_MIGRATIONS } from "./pg-migrations/index.js";
import { pgIdempotency, pgLeases, pgSnapshots, pgTokens, pgUiSessions } from "./pg-misc.js";
import { pgPools } from "./pg-pools.js";
import { pgEvents, pgSandboxes } from "./pg-sandboxes.js";
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

export interface PostgresStoreOptions {
  /** Apply pending migrations before the first statement (default true; `db status` reads without). */
  migrate?: boolean;
  /** Pool size (default 10). */
  max?: number;
  /** Hears every statement sent (benchmarks count round trips with it). */
  onStatement?: (sql: string) => void;
}

export interface AppliedMigration {
  version: number;
  name: string;
  appliedAt: string;
}

/** Serialises migrations of replicas starting at once. */
const MIGRATE_LOCK = 7428_0002;

function reposOn(c: PgCtx): Omit<Repos, "tx"> {
  return {
    sandboxes: pgSandboxes(c),
    events: pgEvents(c),
    snapshots: pgSnapshots(c),
    credits: pgCredits(c),
    tokens: pgTokens(c),
    idempotency: pgIdempotency(c),
    leases: pgLeases(c),
    pools: pgPools(c),
    uiSessions: pgUiSessions(c),
  };
}

/**
 * The shared store for several `serve` replicas (SANDBOXER_DATABASE_URL).
 * Transactions run at READ COMMITTED; where SQLite relies on its database-wide
 * write lock this store locks what it reads for a write (`getForUpdate`,
 * `openReservation`: FOR UPDATE; `account`: an advisory lock per account),
 * claims outbox events one claim at a time (an advisory lock: per-sandbox order), takes leases with one upsert, and
 * writes events under one lock at commit so their seqs follow commit order.
 */
export class PostgresStore implements Store {
  readonly kind = "postgres";
  readonly sandboxes: SandboxRepo;
  readonly events: EventRepo;
  readonly snapshots: SnapshotRepo;
  readonly credits: CreditRepo;
  readonly tokens: TokenRepo;
  readonly idempotency: IdempotencyRepo;
  readonly leases: LeaseRepo;
  readonly pools: PoolRepo;
  readonly uiSessions: UiSessionRepo;
  private readonly sql: Sql;
  /** One more connection for statements that come one after another (./pg-ctx.ts autoCtx); none with a small pool. */
  private readonly hot: Sql | undefined;
  private migrated: boolean;
  private migrating: Promise<void> | undefined;
  private closed = false;

  constructor(
    readonly url: string,
    opts: PostgresStoreOptions = {},
  ) {
    this.sql = connect(url, opts);
    this.hot = (opts.max ?? 10) >= 4 ? connect(url, { ...opts, max: 1 }) : undefined;
    this.migrated = opts.migrate === false;
    const auto = reposOn(autoCtx(this.sql, url, () => this.ready(), this.hot));
    this.sandboxes = auto.sandboxes;
    this.events = auto.events;
    this.snapshots = auto.snapshots;
    this.credits = auto.credits;
    this.tokens = auto.tokens;
    this.idempotency = auto.idempotency;
    this.leases = auto.leases;
    this.pools = auto.pools;
    this.uiSessions = auto.uiSessions;
  }

  /** Where this store lives, without its password. */
  get where(): string {
    return redactUrl(this.url);
  }

  /**
   * Pending migrations run before the first statement (once; a failure, e.g.
   * the server not up yet, is tried again by the next statement).
   */
  private ready(): Promise<void> | undefined {
    if (this.migrated) return undefined;
    this.migrating ??= this.migrate().then(
      () => {
        this.migrated = true;
      },
      (err) => {
        this.migrating = undefined;
        throw err;
      },
    );
    return this.migrating;
  }

  tx<T>(fn: (t: Tx) => Promise<T>): Promise<T> {
    return transaction(
      this.sql,
      this.url,
      () => this.ready(),
      (c) => {
        const t: Tx = { ...reposOn(c), inTransaction: true, tx: (inner) => inner(t) };
        return fn(t);
      },
    );
  }

  /** Apply every migration not yet recorded (one transaction, under a lock); returns the versions applied. */
  async migrate(): Promise<number[]> {
    try {
      const have = await this.appliedVersions();
      if (PG_MIGRATIONS.every((m) => have.has(m.version))) return [];
      return await this.sql.begin(async (t) => {
        await t.unsafe(`SELECT pg_advisory_xact_lock(${MIGRATE_LOCK})`);
        await t.unsafe("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)");
        // Re-read under the lock: another replica may have migrated meanwhile.
        const done = new Set((await t.unsafe("SELECT version FROM schema_migrations")).map((r) => r.version as number));
        const applied: number[] = [];
        for (const m of PG_MIGRATIONS) {
          if (done.has(m.version)) continue;
          await t.unsafe(m.sql);
          await t.unsafe("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)", [m.version, m.name, new Date().toISOString()]);
          applied.push(m.version);
        }
        return applied;
      });
    } catch (err) {
      throw storeError(err, this.url);
    }
  }

  /** The migrations recorded in this database (none when it was never migrated). */
  async applied(): Promise<AppliedMigration[]> {
    try {
      const [exists] = await this.sql.unsafe("SELECT to_regclass('schema_migrations') IS NOT NULL AS e");
      if (!exists?.e) return [];
      const rows = await this.sql.unsafe("SELECT version, name, applied_at FROM schema_migrations ORDER BY version");
      return rows.map((r) => ({ version: r.version as number, name: r.name as string, appliedAt: r.applied_at as string }));
    } catch (err) {
      throw storeError(err, this.url);
    }
  }

  private async appliedVersions(): Promise<Set<number>> {
    return new Set((await this.applied()).map((m) => m.version));
  }

  async schemaVersion(): Promise<number> {
    await this.ready();
    return Math.max(0, ...(await this.appliedVersions()));
  }

  async watchEvents(onCommit: (seq: number | null) => void): Promise<() => Promise<void>> {
    try {
      // `onlisten` runs on every (re)connect of the listening connection: what was sent meanwhile is lost, so say "read again".
      const sub = await this.sql.listen(
        EVENTS_CHANNEL,
        (payload) => onCommit(Number(payload) || null),
        () => onCommit(null),
      );
      return () => sub.unlisten();
    } catch (err) {
      throw storeError(err, this.url);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.migrating?.catch(() => {});
    await Promise.all([this.sql.end({ timeout: 5 }), this.hot?.end({ timeout: 5 })]);
  }
}
