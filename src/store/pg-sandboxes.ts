import { SandboxerError } from "../errors.js";
import { assertTransition, canTransition, LIVE_STATES } from "../lifecycle.js";
import type { SandboxEvent } from "../types.js";
import { params, type Row } from "./pg-conn.js";
import type { PgCtx } from "./pg-ctx.js";
import { fromRow, heldBy, OWNED_WHERE, PUBLIC_COLUMNS, publicFromValues, suspectsSql, toColumns } from "./rows.js";
import type { EventQuery, EventRepo, OwnerRef, PendingEvent, SandboxFilter, SandboxRepo, SandboxUpdate } from "./types.js";

function columnsOf(patch: SandboxUpdate): Record<string, unknown> {
  if ("state" in patch) throw new SandboxerError("SBX_INVALID_STATE", "a record's state changes only through a transition (with its event)");
  return toColumns(patch);
}

/** `SET a = $1, b = $2` and its values, numbered from `start`. */
function assignments(cols: Record<string, unknown>, start = 1): { set: string; args: unknown[] } {
  const names = Object.keys(cols);
  return { set: names.map((n, i) => `${n} = $${start + i}`).join(", "), args: names.map((n) => cols[n]) };
}

const PUBLIC_LIST = PUBLIC_COLUMNS.split(", ");

export function pgSandboxes(c: PgCtx): SandboxRepo {
  const one = async (text: string, args: unknown[]) => {
    const [r] = await c.q(text, args);
    return r ? fromRow(r) : undefined;
  };
  return {
    async insert(row, idempotencyKey) {
      const cols = { ...toColumns(row), idempotency_key: idempotencyKey ?? null };
      const names = Object.keys(cols);
      await c.send(`INSERT INTO sandboxes (${names.join(", ")}) VALUES (${params(names.length)})`, Object.values(cols));
    },
    get: (id) => one("SELECT * FROM sandboxes WHERE id = $1", [id]),
    async getPublic(id) {
      // Only the public columns: the handle is neither sent nor parsed.
      // A warm pool member is nobody's record until claimed: never public (migration 014).
      const [r] = await c.q(`SELECT ${PUBLIC_COLUMNS} FROM sandboxes WHERE id = $1 AND pool IS NULL`, [id]);
      return r ? publicFromValues(PUBLIC_LIST.map((col) => r[col])) : undefined;
    },
    getForUpdate: (id) => one(`SELECT * FROM sandboxes WHERE id = $1${c.inTx ? " FOR UPDATE" : ""}`, [id]),
    findByIdempotencyKey: (key) => one("SELECT * FROM sandboxes WHERE idempotency_key = $1", [key]),
    async list(filter: SandboxFilter = {}) {
      const where: string[] = [];
      const args: unknown[] = [];
      const arg = (v: unknown) => {
        args.push(v);
        return `$${args.length}`;
      };
      if (filter.states?.length) where.push(`state IN (${filter.states.map(arg).join(", ")})`);
      for (const col of ["profile", "project", "extension", "host"] as const) {
        if (filter[col]) where.push(`${col} = ${arg(filter[col])}`);
      }
      if (filter.notDestroyed) where.push("destroyed_at IS NULL");
      if (filter.pool === "hide") where.push("pool IS NULL");
      else if (filter.pool === "only") where.push("pool IS NOT NULL");
      if (filter.expiredBefore) where.push(`expires_at IS NOT NULL AND expires_at <= ${arg(filter.expiredBefore)}`);
      if (filter.after) where.push(`(created_at, id) > (${arg(filter.after.createdAt)}, ${arg(filter.after.id)})`);
      const limit = filter.limit ? ` LIMIT ${arg(Math.trunc(filter.limit))}` : "";
      return (await c.q(`SELECT * FROM sandboxes ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at, id${limit}`, args)).map(fromRow);
    },
    async transition(id, from, to, patch, event, guard) {
      const cols = { ...columnsOf(patch), state: to };
      // One statement when the move is allowed from every state the caller expects (the common case):
      // the compare-and-set, the owner check, the row lock and the event commit together.
      const allowed = from.filter((s) => canTransition(s, to));
      if (allowed.length) {
        const { set, args } = assignments(cols);
        const where = [`id = $${args.push(id)}`, `state IN (${allowed.map((s) => `$${args.push(s)}`).join(", ")})`];
        const o = guard?.owner;
        if (o) {
          const replica = `$${args.push(o.replica)}`;
          where.push(
            `owner_pid = $${args.push(o.pid)}`,
            `owner_start IS NOT DISTINCT FROM $${args.push(o.start)}`,
            `COALESCE(owner_replica, ${replica}) = ${replica}`,
          );
        }
        const [r] = await c.gated(`UPDATE sandboxes SET ${set} WHERE ${where.join(" AND ")} RETURNING *`, args, event ? [event] : []);
        if (r) return fromRow(r);
      }
      // No row moved: missing, lost a race, taken over, or a move the lifecycle forbids (say which).
      const [raw] = await c.q("SELECT * FROM sandboxes WHERE id = $1", [id]);
      const cur = raw ? fromRow(raw) : undefined;
      if (!cur || !from.includes(cur.state) || (guard?.owner && !heldBy(cur, guard.owner))) return undefined;
      assertTransition(id, cur.state, to);
      return undefined;
    },
    async update(id, patch) {
      const cols = columnsOf(patch);
      if (!Object.keys(cols).length) return;
      const { set, args } = assignments(cols);
      await c.send(`UPDATE sandboxes SET ${set} WHERE id = $${args.length + 1}`, [...args, id]);
    },
    async heartbeat(owner: OwnerRef, at: string) {
      // Exactly what a reconcile elsewhere would judge by this owner (a destroy of a cleaned failed record keeps its destroyedAt).
      const rows = await c.q(
        `UPDATE sandboxes SET owner_beat_at = $1 WHERE ${OWNED_WHERE} AND owner_replica = $2 AND owner_pid = $3 AND owner_start IS NOT DISTINCT FROM $4 RETURNING id`,
        [at, owner.replica, owner.pid, owner.start],
      );
      return rows.length;
    },
    suspects: async () => (await c.q(suspectsSql("*"))).map(fromRow),
    async liveCounts() {
      const rows = await c.q(`SELECT extension, host, COUNT(*) AS n FROM sandboxes WHERE state IN (${params(LIVE_STATES.length)}) GROUP BY extension, host`, [
        ...LIVE_STATES,
      ]);
      return rows as { extension: string; host: string; n: number }[];
    },
    async recentReadySeconds(extension, host, limit) {
      const sql =
        "SELECT EXTRACT(EPOCH FROM (ready_at::timestamptz - created_at::timestamptz))::float8 AS s FROM sandboxes WHERE extension = $1 AND host = $2 AND ready_at IS NOT NULL ORDER BY created_at DESC LIMIT $3";
      return (await c.q(sql, [extension, host, limit])).map((r) => r.s as number);
    },
    async hostHealth(since) {
      const sql =
        "SELECT host, MAX(CASE WHEN state = 'failed' AND (error::jsonb ->> 'code') = 'SBX_HOST_UNREACHABLE' THEN created_at END) AS down, MAX(CASE WHEN ready_at IS NOT NULL THEN created_at END) AS up FROM sandboxes WHERE created_at >= $1 GROUP BY host";
      return (await c.q(sql, [since])) as { host: string; down: string | null; up: string | null }[];
    },
  };
}

function toEvent(r: Row): SandboxEvent {
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

const EVENT_FIELDS = "seq, id, type, sandbox_id, at, actor, project, data";

/** Serialises outbox claims (see claimPending). */
const OUTBOX_LOCK = 7428_0003;

export function pgEvents(c: PgCtx): EventRepo {
  return {
    append: (e) => c.emit([e]),
    async list(opts: EventQuery = {}) {
      const bySandbox = `${opts.sandboxId ? " AND sandbox_id = $3" : ""}${opts.pool === "hide" ? " AND pool IS NULL" : ""}`;
      const args: unknown[] = [opts.afterSeq ?? 0, opts.limit ?? 1000];
      if (opts.sandboxId) args.push(opts.sandboxId);
      return (await c.q(`SELECT ${EVENT_FIELDS} FROM events WHERE seq > $1${bySandbox} ORDER BY seq LIMIT $2`, args)).map(toEvent);
    },
    claimPending(now, leaseUntil, limit): Promise<PendingEvent[]> {
      return c.atomic(async (a) => {
        // One claimer at a time across replicas: the per-sandbox check below must see every lease already
        // taken, and a concurrent claim's lease is invisible to this statement's snapshot until it commits.
        // The lock comes first, so the next statement's snapshot has them all. Claims are one short statement.
        await a.q(`SELECT pg_advisory_xact_lock(${OUTBOX_LOCK})`);
        // Per-sandbox order (docs/integrations/state-hub.md): an event waits while an earlier one of the same
        // sandbox (or, unattached, an earlier unattached one) is undelivered and not due (backing off, or leased).
        // SKIP LOCKED: an event whose delivery is being marked right now is passed over, not waited for.
        const rows = await a.q(
          `UPDATE events e SET next_attempt_at = $2 FROM (
             SELECT seq FROM events x WHERE delivered_at IS NULL AND next_attempt_at <= $1
               AND NOT EXISTS (SELECT 1 FROM events p WHERE p.delivered_at IS NULL AND p.seq < x.seq AND p.next_attempt_at > $1
                               AND (p.sandbox_id = x.sandbox_id OR (p.sandbox_id IS NULL AND x.sandbox_id IS NULL)))
             ORDER BY seq LIMIT $3 FOR UPDATE SKIP LOCKED) d
           WHERE e.seq = d.seq RETURNING e.seq, e.id, e.type, e.sandbox_id, e.at, e.actor, e.project, e.data, e.attempts`,
          [now, leaseUntil, limit],
        );
        return rows.map((r) => ({ ...toEvent(r), attempts: r.attempts as number })).sort((x, y) => x.seq - y.seq);
      });
    },
    async markDelivered(seq, at) {
      await c.q("UPDATE events SET delivered_at = $1, attempts = attempts + 1, last_error = NULL WHERE seq = $2", [at, seq]);
    },
    async markFailed(seq, error, nextAttemptAt) {
      await c.q("UPDATE events SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2 WHERE seq = $3", [error.slice(0, 500), nextAttemptAt, seq]);
    },
    async reschedule(seq, nextAttemptAt) {
      await c.q("UPDATE events SET next_attempt_at = $1 WHERE seq = $2", [nextAttemptAt, seq]);
    },
    async stats() {
      const [r] = await c.q(
        "SELECT COUNT(*) FILTER (WHERE delivered_at IS NULL) AS pending, COUNT(*) FILTER (WHERE delivered_at IS NOT NULL) AS delivered, MIN(at) FILTER (WHERE delivered_at IS NULL) AS oldest FROM events",
      );
      return { pending: (r?.pending as number) ?? 0, delivered: (r?.delivered as number) ?? 0, oldestPending: (r?.oldest as string | null) ?? null };
    },
  };
}
