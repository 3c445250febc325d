import { SandboxerError } from "../errors.js";
import { assertTransition, LIVE_STATES } from "../lifecycle.js";
import type { SandboxEvent } from "../types.js";
import { fromValues, heldBy, OWNED_WHERE, PUBLIC_COLUMNS, publicFromValues, SELECT_COLUMNS, suspectsSql, toColumns } from "./rows.js";
import type { Conn, Sync } from "./sqlite-conn.js";
import type { EventQuery, EventRepo, NewEvent, PendingEvent, SandboxFilter, SandboxRepo, SandboxUpdate } from "./types.js";

type Raw = Record<string, unknown>;

const LIVE_SQL = `SELECT extension, host, COUNT(*) AS n FROM sandboxes WHERE state IN (${LIVE_STATES.map(() => "?").join(", ")}) GROUP BY extension, host`;

function columnsOf(patch: SandboxUpdate): Record<string, unknown> {
  // The type keeps `state` out; this keeps out a cast that slips it back in.
  if ("state" in patch) throw new SandboxerError("SBX_INVALID_STATE", "a record's state changes only through a transition (with its event)");
  return toColumns(patch);
}

export function sqliteSandboxes(c: Conn, events: Sync<EventRepo>): Sync<SandboxRepo> {
  // Raw (array) rows of an explicit column list: the hot read path (every API GET) builds one object, not two.
  const byId = c.stmt(`SELECT ${SELECT_COLUMNS} FROM sandboxes WHERE id = ?`).raw(true);
  const get = (id: string) => {
    const v = byId.get(id) as unknown[] | undefined;
    return v ? fromValues(v) : undefined;
  };
  // A warm pool member is nobody's record until claimed: never public (migration 014).
  const publicById = c.stmt(`SELECT ${PUBLIC_COLUMNS} FROM sandboxes WHERE id = ? AND pool IS NULL`).raw(true);
  const update = (id: string, patch: SandboxUpdate) => {
    const cols = columnsOf(patch);
    const names = Object.keys(cols);
    if (!names.length) return;
    c.stmt(`UPDATE sandboxes SET ${names.map((n) => `${n} = @${n}`).join(", ")} WHERE id = @__id`).run({ ...cols, __id: id });
  };
  return {
    insert(row, idempotencyKey) {
      const cols = { ...toColumns(row), idempotency_key: idempotencyKey ?? null };
      const names = Object.keys(cols);
      c.stmt(`INSERT INTO sandboxes (${names.join(", ")}) VALUES (${names.map((n) => `@${n}`).join(", ")})`).run(cols);
    },
    get,
    getPublic(id) {
      const v = publicById.get(id) as unknown[] | undefined;
      return v ? publicFromValues(v) : undefined;
    },
    getForUpdate: get,
    findByIdempotencyKey(key) {
      const v = c.stmt(`SELECT ${SELECT_COLUMNS} FROM sandboxes WHERE idempotency_key = ?`).raw(true).get(key) as unknown[] | undefined;
      return v ? fromValues(v) : undefined;
    },
    list(filter: SandboxFilter = {}) {
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
      if (filter.pool === "hide") where.push("pool IS NULL");
      else if (filter.pool === "only") where.push("pool IS NOT NULL");
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
      // The SQL text depends only on which filters are set (values are bound), so the statement cache stays small.
      const sql = `SELECT ${SELECT_COLUMNS} FROM sandboxes ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at, id${filter.limit ? " LIMIT @limit" : ""}`;
      if (filter.limit) args.limit = Math.trunc(filter.limit);
      return (c.stmt(sql).raw(true).all(args) as unknown[][]).map(fromValues);
    },
    transition(id, from, to, patch, event, guard) {
      return c.atomic(() => {
        const cur = get(id);
        if (!cur || !from.includes(cur.state)) return undefined;
        if (guard?.owner && !heldBy(cur, guard.owner)) return undefined;
        assertTransition(id, cur.state, to);
        const cols = { ...columnsOf(patch), state: to };
        const names = Object.keys(cols);
        c.stmt(`UPDATE sandboxes SET ${names.map((n) => `${n} = @${n}`).join(", ")} WHERE id = @__id`).run({ ...cols, __id: id });
        if (event) events.append(event);
        return get(id);
      });
    },
    update,
    heartbeat(owner, at) {
      // Exactly what a reconcile elsewhere would judge by this owner (a destroy of a cleaned failed record keeps its destroyedAt).
      const sql = `UPDATE sandboxes SET owner_beat_at = ? WHERE ${OWNED_WHERE} AND owner_replica = ? AND owner_pid = ? AND owner_start IS ?`;
      return c.stmt(sql).run(at, owner.replica, owner.pid, owner.start).changes;
    },
    suspects() {
      return (c.stmt(suspectsSql(SELECT_COLUMNS)).raw(true).all() as unknown[][]).map(fromValues);
    },
    liveCounts() {
      return c.stmt(LIVE_SQL).all(...LIVE_STATES) as { extension: string; host: string; n: number }[];
    },
    recentReadySeconds(extension, host, limit) {
      const sql =
        "SELECT (julianday(ready_at) - julianday(created_at)) * 86400.0 AS s FROM sandboxes WHERE extension = ? AND host = ? AND ready_at IS NOT NULL ORDER BY created_at DESC LIMIT ?";
      return (c.stmt(sql).all(extension, host, limit) as { s: number }[]).map((r) => r.s);
    },
    hostHealth(since) {
      const sql =
        "SELECT host, MAX(CASE WHEN state = 'failed' AND json_extract(error, '$.code') = 'SBX_HOST_UNREACHABLE' THEN created_at END) AS down, MAX(CASE WHEN ready_at IS NOT NULL THEN created_at END) AS up FROM sandboxes WHERE created_at >= ? GROUP BY host";
      return c.stmt(sql).all(since) as { host: string; down: string | null; up: string | null }[];
    },
  };
}

function toEvent(r: Raw): SandboxEvent {
  return {
    seq: r.seq as number,
    id: r.id as string,
    type: r.type as string,
    sandboxId: (r.sandbox_id as string | null) ?? null,
    at: r.at as string,
    actor: (r.actor as string | null) ?? null,
    project: (r.project as string | null) ?? null,
    data: JSON.parse(r.data as string),
  };
}

export function sqliteEvents(c: Conn): Sync<EventRepo> {
  const list = (opts: EventQuery = {}) => {
    const sql = `SELECT seq, id, type, sandbox_id, at, actor, project, data FROM events WHERE seq > @after ${opts.sandboxId ? "AND sandbox_id = @sid" : ""} ${opts.pool === "hide" ? "AND pool IS NULL" : ""} ORDER BY seq LIMIT @limit`;
    return (c.stmt(sql).all({ after: opts.afterSeq ?? 0, sid: opts.sandboxId, limit: opts.limit ?? 1000 }) as Raw[]).map(toEvent);
  };
  return {
    append(e: NewEvent) {
      c.stmt(
        // An event keeps its sandbox's pool at the time of writing: a member's refill history stays hidden (migration 014).
        "INSERT INTO events (id, type, sandbox_id, at, actor, project, data, next_attempt_at, pool) VALUES (@id, @type, @sandboxId, @at, @actor, @project, @data, @at, (SELECT pool FROM sandboxes WHERE id = @sandboxId))",
      ).run({ ...e, data: JSON.stringify(e.data) });
    },
    list,
    claimPending(now, leaseUntil, limit): PendingEvent[] {
      return c.atomic(() => {
        // Per-sandbox order (docs/integrations/state-hub.md): an event waits while an earlier one of the
        // same sandbox is undelivered and not due (backing off, or leased to another deliverer).
        const due = c
          .stmt(
            `SELECT seq, attempts FROM events e WHERE delivered_at IS NULL AND next_attempt_at <= @now
               AND NOT EXISTS (SELECT 1 FROM events p WHERE p.sandbox_id IS e.sandbox_id AND p.seq < e.seq AND p.delivered_at IS NULL AND p.next_attempt_at > @now)
             ORDER BY seq LIMIT @limit`,
          )
          .all({ now, limit }) as { seq: number; attempts: number }[];
        if (!due.length) return [];
        const mark = c.stmt("UPDATE events SET next_attempt_at = ? WHERE seq = ?");
        for (const d of due) mark.run(leaseUntil, d.seq);
        const attempts = new Map(due.map((d) => [d.seq, d.attempts]));
        const first = due[0]?.seq ?? 1;
        const last = due.at(-1)?.seq ?? first;
        return list({ afterSeq: first - 1, limit: last - first + 1 })
          .filter((e) => attempts.has(e.seq))
          .map((e) => ({ ...e, attempts: attempts.get(e.seq) ?? 0 }));
      });
    },
    markDelivered(seq, at) {
      c.stmt("UPDATE events SET delivered_at = ?, attempts = attempts + 1, last_error = NULL WHERE seq = ?").run(at, seq);
    },
    markFailed(seq, error, nextAttemptAt) {
      c.stmt("UPDATE events SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE seq = ?").run(error.slice(0, 500), nextAttemptAt, seq);
    },
    reschedule(seq, nextAttemptAt) {
      c.stmt("UPDATE events SET next_attempt_at = ? WHERE seq = ?").run(nextAttemptAt, seq);
    },
    stats() {
      const r = c
        .stmt(
          "SELECT SUM(delivered_at IS NULL) AS pending, SUM(delivered_at IS NOT NULL) AS delivered, MIN(CASE WHEN delivered_at IS NULL THEN at END) AS oldestPending FROM events",
        )
        .get() as { pending: number | null; delivered: number | null; oldestPending: string | null };
      return { pending: r.pending ?? 0, delivered: r.delivered ?? 0, oldestPending: r.oldestPending };
    },
  };
}
