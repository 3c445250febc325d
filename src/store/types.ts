/**
 * The Store contract: small async repositories and transactions. Only
 * src/store/ holds SQL; everything above talks to these interfaces, so a
 * second driver (PostgreSQL) is one more implementation of this file.
 *
 * Transactions: `store.tx(async (t) => ...)` runs `fn` in one transaction and
 * hands it the repositories bound to it (`BEGIN ... COMMIT`, rolled back when
 * `fn` throws). Inside `fn` use `t`, never `store` (on SQLite, `store` waits
 * for the transaction to end); do no I/O but the store's (no extension calls,
 * no network): a transaction holds the write lock. `t.tx(fn)` joins the
 * transaction, so a helper that takes `Repos` works in and out of one.
 * `getForUpdate` / `account` / `openReservation` read rows for a later write
 * in the same transaction (Postgres: `SELECT ... FOR UPDATE`; SQLite holds the
 * database write lock from `BEGIN IMMEDIATE` on).
 */
import type { Snapshot } from "../snapshots/types.js";
import type { PoolStage, Sandbox, SandboxEvent, SandboxRow, SandboxState } from "../types.js";

/**
 * What a write may change on a record. `state` is not in it: a state changes
 * only through `transition`, which checks the lifecycle table and writes the
 * event in the same transaction.
 */
export type SandboxUpdate = Partial<Omit<SandboxRow, "id" | "state">>;

export interface SandboxFilter {
  states?: readonly SandboxState[];
  profile?: string | undefined;
  project?: string | undefined;
  extension?: string | undefined;
  host?: string | undefined;
  expiredBefore?: string | undefined;
  /** Only records whose resources are not yet known to be gone (destroyedAt unset). */
  notDestroyed?: boolean | undefined;
  /** Keyset paging: only records after this one in (createdAt, id) order. */
  after?: { createdAt: string; id: string } | undefined;
  limit?: number | undefined;
  /**
   * Warm pool members (records with `pool` set): `all` (the default, what the
   * broker's own bookkeeping needs), `hide` (what consumers are shown: the
   * broker's list forces it), `only`.
   */
  pool?: PoolVisibility | undefined;
}

export type PoolVisibility = "all" | "hide" | "only";

export interface NewEvent {
  id: string;
  type: string;
  sandboxId: string | null;
  at: string;
  actor: string | null;
  project: string | null;
  data: Record<string, unknown>;
}

export interface EventQuery {
  sandboxId?: string | undefined;
  afterSeq?: number;
  limit?: number;
  /** `hide` leaves out events written while their sandbox was a pool member (the broker forces it); default `all`. */
  pool?: "all" | "hide" | undefined;
}

/** Who owns in-flight records: a replica (machine or container), and a process on it. */
export interface OwnerRef {
  replica: string;
  pid: number;
  start: string | null;
}

export interface TransitionGuard {
  /** Move only while this process owns the record (replica, pid and start; a record without a replica is this replica's). */
  owner?: OwnerRef | undefined;
}

export interface SandboxRepo {
  insert(row: SandboxRow, idempotencyKey?: string): Promise<void>;
  get(id: string): Promise<SandboxRow | undefined>;
  /** The public record only (no handle, no owner): what reads that show a record need, read and parsed for less. Undefined for a warm pool member (not public until claimed). */
  getPublic(id: string): Promise<Sandbox | undefined>;
  /** `get`, locking the row until the transaction ends (use inside `tx`). */
  getForUpdate(id: string): Promise<SandboxRow | undefined>;
  findByIdempotencyKey(key: string): Promise<SandboxRow | undefined>;
  list(filter?: SandboxFilter): Promise<SandboxRow[]>;
  /**
   * Compare-and-set state change plus its event, in one transaction. Returns
   * the new row, or undefined when the row is missing or no longer in one of
   * `from` (a race lost). Throws SBX_INVALID_STATE when src/lifecycle.ts does
   * not allow the move from the current state to `to`. With `guard.owner`,
   * the move happens only while that process still owns the record (another
   * replica may have taken it over): undefined otherwise.
   */
  transition(
    id: string,
    from: readonly SandboxState[],
    to: SandboxState,
    patch: SandboxUpdate,
    event: NewEvent | null,
    guard?: TransitionGuard,
  ): Promise<SandboxRow | undefined>;
  /** Change fields other than `state` (handle checkpoints, owner, cost). */
  update(id: string, patch: SandboxUpdate): Promise<void>;
  /** Stamp `at` as the heartbeat of every record `owner` still holds (in flight, failed with resources, or a pool member it claimed); returns how many. */
  heartbeat(owner: OwnerRef, at: string): Promise<number>;
  /**
   * Every record a reconcile judges by its owner, in one read: in flight
   * (requested, provisioning, destroying), failed with resources not yet
   * cleaned, and ready warm pool members being claimed or applied.
   */
  suspects(): Promise<SandboxRow[]>;
  /** Live records per extension and host (routing load). */
  liveCounts(): Promise<{ extension: string; host: string; n: number }[]>;
  /** Seconds from created to ready of the `limit` most recent ready records of one extension on one host. */
  recentReadySeconds(extension: string, host: string, limit: number): Promise<number[]>;
  /** Per host since `since`: the latest create that failed unreachable and the latest that became ready. */
  hostHealth(since: string): Promise<{ host: string; down: string | null; up: string | null }[]>;
}

export interface PendingEvent extends SandboxEvent {
  attempts: number;
}

export interface OutboxStats {
  pending: number;
  delivered: number;
  oldestPending: string | null;
}

/** The events table is also the outbox delivered to the State Hub. */
export interface EventRepo {
  append(e: NewEvent): Promise<void>;
  list(opts?: EventQuery): Promise<SandboxEvent[]>;
  /**
   * Claim up to `limit` undelivered events due at `now`, in seq order, pushing their next attempt to
   * `leaseUntil` (Postgres: SKIP LOCKED). An event whose sandbox has an earlier undelivered event that
   * is not due (backing off, or leased) is not claimed: the hub gets each sandbox's events in order.
   */
  claimPending(now: string, leaseUntil: string, limit: number): Promise<PendingEvent[]>;
  markDelivered(seq: number, at: string): Promise<void>;
  markFailed(seq: number, error: string, nextAttemptAt: string): Promise<void>;
  /** Move an event's next attempt without counting an attempt (it was never sent). */
  reschedule(seq: number, nextAttemptAt: string): Promise<void>;
  stats(): Promise<OutboxStats>;
}

/**
 * A snapshot row: `file` is relative to the snapshots directory, so a moved
 * $SANDBOXER_HOME keeps working. The `sha256` column holds the archive's
 * digest as `<algorithm>:<hex>`, or a bare hex for rows made before BLAKE3
 * (SHA-256); src/snapshots/digest.ts reads both.
 */
export type StoredSnapshot = Omit<Snapshot, "path" | "digest" | "sha256"> & { file: string; sha256: string };

export interface SnapshotFilter {
  sandboxId?: string | undefined;
  profile?: string | undefined;
  project?: string | undefined;
}

export interface SnapshotRepo {
  insert(snap: StoredSnapshot): Promise<void>;
  get(id: string): Promise<StoredSnapshot | undefined>;
  list(filter?: SnapshotFilter): Promise<StoredSnapshot[]>;
  /** True when a row was deleted. */
  delete(id: string): Promise<boolean>;
}

/** Amounts are integer micro-credits (src/credits/amount.ts). */
export interface AccountRow {
  account: string;
  balanceMicro: number;
  reservedMicro: number;
  /** "" for an account never written. */
  updatedAt: string;
}

export type LedgerKind = "add" | "reserve" | "debit" | "release";

export interface NewLedgerEntry {
  account: string;
  sandboxId: string | null;
  kind: LedgerKind;
  amountMicro: number;
  balanceMicro: number;
  reservedMicro: number;
  at: string;
  data: Record<string, unknown>;
}

export interface LedgerRow extends NewLedgerEntry {
  seq: number;
}

export interface ReservationRow {
  sandboxId: string;
  account: string;
  amountMicro: number;
  pricePerHour: number;
  currency: string;
  at: string;
}

export interface HistoryQuery {
  account?: string | undefined;
  since?: string | undefined;
  /** Newest `limit` entries (oldest first), or with `since` the first `limit` after it. */
  limit?: number | undefined;
}

export interface CreditRepo {
  /** The account (zeros when it was never written), locked for the transaction's later write. */
  account(account: string): Promise<AccountRow>;
  saveAccount(row: AccountRow): Promise<void>;
  accounts(): Promise<AccountRow[]>;
  /** Available micro-credits (balance - reserved) per account. */
  available(): Promise<Map<string, number>>;
  appendEntry(e: NewLedgerEntry): Promise<void>;
  history(q?: HistoryQuery): Promise<LedgerRow[]>;
  /** The sandbox's unsettled reservation, locked for the transaction's later write. */
  openReservation(sandboxId: string): Promise<ReservationRow | undefined>;
  /** Insert or replace the sandbox's reservation (unsettled). */
  putReservation(r: ReservationRow): Promise<void>;
  deleteReservation(sandboxId: string): Promise<void>;
  settleReservation(sandboxId: string, at: string, debitedMicro: number): Promise<void>;
  growReservation(sandboxId: string, micro: number): Promise<void>;
}

export interface TokenRow {
  id: string;
  actor: string;
  project: string | null;
  name: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface TokenRepo {
  insert(row: TokenRow, secretHash: string): Promise<void>;
  list(): Promise<TokenRow[]>;
  get(id: string): Promise<TokenRow | undefined>;
  findByHash(secretHash: string): Promise<TokenRow | undefined>;
  revoke(id: string, at: string): Promise<void>;
  touch(id: string, at: string): Promise<void>;
  /**
   * A value that changes whenever a token is revoked, by this process or any
   * other on the same database. Cheap enough to ask on every request: caches
   * of verified tokens compare it instead of re-reading the token.
   */
  revocationEpoch(): Promise<string>;
}

export interface IdempotencyRepo {
  get(key: string): Promise<{ requestHash: string; sandboxId: string } | undefined>;
  put(key: string, requestHash: string, sandboxId: string, at: string): Promise<void>;
}

export interface LeaseRepo {
  /** Take or renew a named lease; false while someone else holds it unexpired. */
  acquire(name: string, holder: string, now: string, until: string): Promise<boolean>;
  release(name: string, holder: string): Promise<void>;
  get(name: string): Promise<{ holder: string; expiresAt: string } | undefined>;
}

/**
 * A dashboard sign-in (src/ui/session.ts), shared by every replica on the
 * store. Nothing in it opens a session or the API: the row is found by a
 * digest of the cookie's random id, and names its bearer token by id (the
 * token's secret is never kept), so every request re-checks that token.
 */
export interface UiSessionRow {
  /** sha256 (hex) of the session id the browser holds. */
  key: string;
  tokenId: string;
  /** The value state-changing requests send back; useless without the cookie. */
  csrf: string;
  createdAt: string;
  /** Written at most about once a minute (a page view is not a write), so the idle end is that coarse. */
  lastSeen: string;
}

export interface UiSessionRepo {
  create(row: UiSessionRow): Promise<void>;
  get(key: string): Promise<UiSessionRow | undefined>;
  touch(key: string, at: string): Promise<void>;
  /** True when a row was deleted. */
  delete(key: string): Promise<boolean>;
  /**
   * Drop sessions last seen before `idleBefore`, those of revoked or unknown
   * tokens, and beyond the `keep` most recently seen the rest; returns how
   * many went.
   */
  sweep(idleBefore: string, keep: number): Promise<number>;
  /** Drop one token's sessions beyond its `keep` most recently seen; returns how many went. */
  trim(tokenId: string, keep: number): Promise<number>;
  count(): Promise<number>;
}

/** A pool's run-time setting (`pools set`, `pools drain`) and its counters. */
export interface PoolRow {
  /** `profile.x` or `profile.x?k=v&...` (src/broker/pools-plan.ts). */
  key: string;
  profile: string;
  /** The inputs its members are made with (as given to `pools set`). */
  inputs: Record<string, string>;
  /** null: no run-time setting (the profile's `pool` applies); 0: drained. */
  size: number | null;
  maxIdleSeconds: number | null;
  hits: number;
  misses: number;
  /** Since when the pool has had fewer ready-or-warming members than its size (null: full). */
  shortSince: string | null;
  lagMsSum: number;
  lagCount: number;
  lagMsLast: number | null;
  updatedAt: string;
}

export interface PoolClaimQuery {
  pool: string;
  profileVersion: number;
  /** Acceptable (extension, host) pairs, best first; host "*" = any. */
  targets: readonly { extension: string; host: string }[];
  /** Members that became ready before this are idle past maxIdle: never claimed. */
  readyAfter?: string | undefined;
}

export interface PoolRepo {
  /** Every pool row (settings and counters). */
  list(): Promise<PoolRow[]>;
  get(key: string): Promise<PoolRow | undefined>;
  /** Set (or clear with size null) a pool's run-time setting, keeping its counters. */
  put(setting: { key: string; profile: string; inputs: Record<string, string>; size: number | null; maxIdleSeconds: number | null }, at: string): Promise<void>;
  /** Count a claim (hit) or an empty pool (miss); either starts `shortSince` if unset. */
  count(key: string, profile: string, outcome: "hit" | "miss", at: string): Promise<void>;
  /** A refilled member is ready: its lag is `at - shortSince`; `full` clears shortSince, else it restarts at `at`. */
  refilled(key: string, at: string, full: boolean): Promise<void>;
  /**
   * Take one warm member for a create: the first of `targets` that has one,
   * oldest ready first; it moves to stage `claimed` owned by `owner` (still
   * hidden), `at` its first heartbeat (`heartbeat` keeps it fresh, so other
   * replicas judge a claim as they judge a create). Never the same member to
   * two callers, across processes and replicas (Postgres: `FOR UPDATE SKIP
   * LOCKED`). Undefined when none.
   */
  claim(q: PoolClaimQuery, owner: OwnerRef, at: string): Promise<SandboxRow | undefined>;
  /** Hand a claimed member over to its consumer: `pool` and `pool_stage` cleared (shown from now on), the create's idempotency key set. */
  handOver(id: string, idempotencyKey: string | null): Promise<void>;
  /** Members of one pool (or all pools; only those in `stages` when given) that are not destroyed: any state but destroyed, destroyedAt unset. */
  members(key?: string, stages?: readonly PoolStage[]): Promise<SandboxRow[]>;
  /** Warm, claimable members per `extension@host` of one pool at one profile version. */
  warmCounts(key: string, profileVersion: number, readyAfter?: string): Promise<Map<string, number>>;
}

/** The repositories, either auto-committing (on `Store`) or bound to one transaction (`Tx`). */
export interface Repos {
  readonly sandboxes: SandboxRepo;
  readonly events: EventRepo;
  readonly snapshots: SnapshotRepo;
  readonly credits: CreditRepo;
  readonly tokens: TokenRepo;
  readonly idempotency: IdempotencyRepo;
  readonly leases: LeaseRepo;
  readonly pools: PoolRepo;
  readonly uiSessions: UiSessionRepo;
  /** Run `fn` in a transaction (on a `Tx`: in the same one). */
  tx<T>(fn: (t: Tx) => Promise<T>): Promise<T>;
}

export interface Tx extends Repos {
  readonly inTransaction: true;
}

export interface Store extends Repos {
  /** "sqlite" or "postgres". */
  readonly kind: string;
  schemaVersion(): Promise<number>;
  /**
   * Hear of every commit that wrote events, from any process on the database
   * (Postgres: LISTEN/NOTIFY). `onCommit(seq)` gets the highest seq written,
   * or null after a reconnect (notifications may have been missed: read
   * again). Absent where the store cannot tell (SQLite): callers poll.
   */
  watchEvents?(onCommit: (seq: number | null) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
