import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { SandboxerError } from "../errors.js";
import type { SandboxEvent, SandboxRow, SandboxState } from "../types.js";
import { MIGRATIONS } from "./migrations/index.js";
import { fromRow, type NewEvent, type SandboxFilter, type SandboxPatch, toColumns } from "./rows.js";

export type { NewEvent, SandboxFilter, SandboxPatch } from "./rows.js";

type Db = Database.Database;

/**
 * SQLite state store: WAL so readers never block the writer, a busy timeout so
 * concurrent CLI processes queue instead of failing, and BEGIN IMMEDIATE for
 * every write so two processes cannot both read-then-write the same row.
 */
export class SqliteStore {
  readonly db: Db;

  constructor(file: string) {
    if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    try {
      this.db = new Database(file);
      this.db.pragma("journal_mode = WAL");
      this.db.pragma("busy_timeout = 15000");
      this.db.pragma("synchronous = NORMAL");
      this.db.pragma("foreign_keys = ON");
    } catch (err) {
      throw new SandboxerError("SBX_STORE", `cannot open ${file}: ${(err as Error).message}`, { cause: err });
    }
    this.migrate();
  }

  private migrate(): void {
    this.db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)");
    // Apply every migration not yet recorded, not only those above the highest: numbers are
    // reserved per feature, so a store may have met 004 before 003 existed.
    const applied = () => new Set((this.db.prepare("SELECT version FROM schema_migrations").all() as { version: number }[]).map((r) => r.version));
    const have = applied();
    if (MIGRATIONS.every((m) => have.has(m.version))) return;
    this.write(() => {
      // Re-read inside the write lock: another process may have migrated meanwhile.
      const done = applied();
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        this.db.exec(m.sql);
        this.db.prepare("INSERT INTO schema_migrations VALUES (?, ?, ?)").run(m.version, m.name, new Date().toISOString());
      }
    });
  }

  /** Run fn in a BEGIN IMMEDIATE transaction (the write lock is taken up front). */
  write<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  schemaVersion(): number {
    return (this.db.prepare("SELECT MAX(version) AS v FROM schema_migrations").get() as { v: number }).v;
  }

  insertSandbox(row: SandboxRow, idempotencyKey?: string): void {
    const cols = { ...toColumns(row), idempotency_key: idempotencyKey ?? null };
    const names = Object.keys(cols);
    this.db.prepare(`INSERT INTO sandboxes (${names.join(", ")}) VALUES (${names.map((n) => `@${n}`).join(", ")})`).run(cols);
  }

  getSandbox(id: string): SandboxRow | undefined {
    const r = this.db.prepare("SELECT * FROM sandboxes WHERE id = ?").get(id) as Record<string, unknown> | undefined;
    return r ? fromRow(r) : undefined;
  }

  findByIdempotencyKey(key: string): SandboxRow | undefined {
    const r = this.db.prepare("SELECT * FROM sandboxes WHERE idempotency_key = ?").get(key) as Record<string, unknown> | undefined;
    return r ? fromRow(r) : undefined;
  }

  listSandboxes(filter: SandboxFilter = {}): SandboxRow[] {
    const where: string[] = [];
    const args: Record<string, unknown> = {};
    if (filter.states?.length) {
      where.push(`state IN (${filter.states.map((_, i) => `@s${i}`).join(", ")})`);
      filter.states.forEach((s, i) => {
        args[`s${i}`] = s;
      });
    }
    for (const col of ["profile", "project", "extension", "host"] as const) {
      if (!filter[col]) continue;
      where.push(`${col} = @${col}`);
      args[col] = filter[col];
    }
    if (filter.notDestroyed) where.push("destroyed_at IS NULL");
    if (filter.expiredBefore) {
      where.push("expires_at IS NOT NULL AND expires_at <= @expiredBefore");
      args.expiredBefore = filter.expiredBefore;
    }
    if (filter.after) {
      // Row-value comparison: SQLite walks the created_at index from the cursor on, not from the start.
      where.push("(created_at, id) > (@afterAt, @afterId)");
      args.afterAt = filter.after.createdAt;
      args.afterId = filter.after.id;
    }
    const sql = `SELECT * FROM sandboxes ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at, id${filter.limit ? ` LIMIT ${Math.trunc(filter.limit)}` : ""}`;
    return (this.db.prepare(sql).all(args) as Record<string, unknown>[]).map(fromRow);
  }

  /**
   * Compare-and-set state change plus its event, in one transaction. Returns the
   * new row, or undefined when the row was no longer in one of `from` (a race lost).
   */
  transition(id: string, from: readonly SandboxState[], patch: SandboxPatch, event: NewEvent | null): SandboxRow | undefined {
    return this.write(() => {
      const cur = this.getSandbox(id);
      if (!cur || !from.includes(cur.state)) return undefined;
      this.patchRow(id, patch);
      if (event) this.appendEvent(event);
      return this.getSandbox(id);
    });
  }

  /** Patch without a state check (handle checkpoints); still in the caller's transaction if any. */
  patchRow(id: string, patch: SandboxPatch): void {
    const cols = toColumns(patch);
    const names = Object.keys(cols);
    if (!names.length) return;
    this.db.prepare(`UPDATE sandboxes SET ${names.map((n) => `${n} = @${n}`).join(", ")} WHERE id = @__id`).run({ ...cols, __id: id });
  }

  appendEvent(e: NewEvent): void {
    this.db
      .prepare(
        "INSERT INTO events (id, type, sandbox_id, at, actor, project, data, next_attempt_at) VALUES (@id, @type, @sandboxId, @at, @actor, @project, @data, @at)",
      )
      .run({ ...e, data: JSON.stringify(e.data) });
  }

  listEvents(opts: { sandboxId?: string | undefined; afterSeq?: number; limit?: number } = {}): SandboxEvent[] {
    const rows = this.db
      .prepare(
        `SELECT seq, id, type, sandbox_id, at, actor, project, data FROM events WHERE seq > @after ${opts.sandboxId ? "AND sandbox_id = @sid" : ""} ORDER BY seq LIMIT @limit`,
      )
      .all({ after: opts.afterSeq ?? 0, sid: opts.sandboxId, limit: opts.limit ?? 1000 }) as Record<string, unknown>[];
    return rows.map((r) => ({
      seq: r.seq as number,
      id: r.id as string,
      type: r.type as string,
      sandboxId: (r.sandbox_id as string | null) ?? null,
      at: r.at as string,
      actor: (r.actor as string | null) ?? null,
      project: (r.project as string | null) ?? null,
      data: JSON.parse(r.data as string),
    }));
  }

  /**
   * Claim up to `limit` undelivered events due at `now`, pushing their next
   * attempt to `leaseUntil` so a concurrent flusher does not send them too.
   */
  claimPending(now: string, leaseUntil: string, limit: number): (SandboxEvent & { attempts: number })[] {
    return this.write(() => {
      const due = this.db
        .prepare("SELECT seq, attempts FROM events WHERE delivered_at IS NULL AND next_attempt_at <= ? ORDER BY seq LIMIT ?")
        .all(now, limit) as { seq: number; attempts: number }[];
      if (!due.length) return [];
      const mark = this.db.prepare("UPDATE events SET next_attempt_at = ? WHERE seq = ?");
      for (const d of due) mark.run(leaseUntil, d.seq);
      const attempts = new Map(due.map((d) => [d.seq, d.attempts]));
      const first = due[0]?.seq ?? 1;
      const last = due.at(-1)?.seq ?? first;
      return this.listEvents({ afterSeq: first - 1, limit: last - first + 1 })
        .filter((e) => attempts.has(e.seq))
        .map((e) => ({ ...e, attempts: attempts.get(e.seq) ?? 0 }));
    });
  }

  markDelivered(seq: number, at: string): void {
    this.db.prepare("UPDATE events SET delivered_at = ?, attempts = attempts + 1, last_error = NULL WHERE seq = ?").run(at, seq);
  }

  markFailed(seq: number, error: string, nextAttemptAt: string): void {
    this.db.prepare("UPDATE events SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE seq = ?").run(error.slice(0, 500), nextAttemptAt, seq);
  }

  /** Move an event's next attempt without counting an attempt (it was never sent). */
  reschedule(seq: number, nextAttemptAt: string): void {
    this.db.prepare("UPDATE events SET next_attempt_at = ? WHERE seq = ?").run(nextAttemptAt, seq);
  }

  outboxStats(): { pending: number; delivered: number; oldestPending: string | null } {
    return this.db
      .prepare(
        "SELECT SUM(delivered_at IS NULL) AS pending, SUM(delivered_at IS NOT NULL) AS delivered, MIN(CASE WHEN delivered_at IS NULL THEN at END) AS oldestPending FROM events",
      )
      .get() as { pending: number; delivered: number; oldestPending: string | null };
  }

  /** Take or renew a named lease (one reaper at a time). */
  acquireLease(name: string, holder: string, now: string, until: string): boolean {
    return this.write(() => {
      const cur = this.db.prepare("SELECT holder, expires_at FROM leases WHERE name = ?").get(name) as { holder: string; expires_at: string } | undefined;
      if (cur && cur.holder !== holder && cur.expires_at > now) return false;
      this.db.prepare("INSERT INTO leases VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at").run(name, holder, until);
      return true;
    });
  }

  releaseLease(name: string, holder: string): void {
    this.db.prepare("DELETE FROM leases WHERE name = ? AND holder = ?").run(name, holder);
  }

  close(): void {
    this.db.close();
  }
}
