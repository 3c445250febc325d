import type { Row } from "./pg-conn.js";
import type { PgCtx } from "./pg-ctx.js";
import { fromRow } from "./rows.js";
import type { PoolRepo, PoolRow } from "./types.js";

function toPool(r: Row): PoolRow {
  return {
    key: r.key as string,
    profile: r.profile as string,
    inputs: JSON.parse(r.inputs as string) as Record<string, string>,
    size: (r.size as number | null) ?? null,
    maxIdleSeconds: (r.max_idle_seconds as number | null) ?? null,
    hits: r.hits as number,
    misses: r.misses as number,
    shortSince: (r.short_since as string | null) ?? null,
    lagMsSum: r.lag_ms_sum as number,
    lagCount: r.lag_count as number,
    lagMsLast: (r.lag_ms_last as number | null) ?? null,
    updatedAt: r.updated_at as string,
  };
}

const WARM = "pool = $1 AND pool_stage = 'warm' AND state = 'ready' AND profile_version = $2 AND ($3::text IS NULL OR ready_at >= $3)";

/**
 * Warm pools on PostgreSQL. A claim is one statement: the best warm member
 * is locked `FOR UPDATE SKIP LOCKED` and moved to `claimed`, so claimers on
 * other connections and replicas pass over a member being taken and take the
 * next (a member whose claim committed meanwhile fails the re-checked WHERE).
 */
export function pgPools(c: PgCtx): PoolRepo {
  const get = async (key: string) => {
    const [r] = await c.q("SELECT * FROM pools WHERE key = $1", [key]);
    return r ? toPool(r) : undefined;
  };
  return {
    async list() {
      return (await c.q('SELECT * FROM pools ORDER BY key COLLATE "C"')).map(toPool);
    },
    get,
    async put(s, at) {
      await c.q(
        `INSERT INTO pools (key, profile, inputs, size, max_idle_seconds, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (key) DO UPDATE SET size = excluded.size, max_idle_seconds = excluded.max_idle_seconds, inputs = excluded.inputs, updated_at = excluded.updated_at`,
        [s.key, s.profile, JSON.stringify(s.inputs), s.size, s.maxIdleSeconds, at],
      );
    },
    async count(key, profile, outcome, at) {
      // Profile-declared pools have no row until something is counted: the first count makes it.
      const col = outcome === "hit" ? "hits" : "misses";
      await c.q(
        `INSERT INTO pools (key, profile, inputs, ${col}, short_since, updated_at) VALUES ($1, $2, '{}', 1, $3, $3)
         ON CONFLICT (key) DO UPDATE SET ${col} = pools.${col} + 1, short_since = COALESCE(pools.short_since, $3), updated_at = $3`,
        [key, profile, at],
      );
    },
    refilled(key, at, full) {
      return c.atomic(async (a) => {
        const [r] = await a.q("SELECT short_since FROM pools WHERE key = $1 FOR UPDATE", [key]);
        if (!r) return;
        const since = r.short_since as string | null;
        if (!since) {
          if (!full) await a.q("UPDATE pools SET short_since = $1 WHERE key = $2", [at, key]);
          return;
        }
        const lag = Math.max(0, Date.parse(at) - Date.parse(since));
        await a.q(
          "UPDATE pools SET lag_ms_sum = lag_ms_sum + $1, lag_count = lag_count + 1, lag_ms_last = $1, short_since = $2, updated_at = $3 WHERE key = $4",
          [lag, full ? null : at, at, key],
        );
      });
    },
    async claim(q, owner, at) {
      if (!q.targets.length) return undefined;
      const args: unknown[] = [q.pool, q.profileVersion, q.readyAfter ?? null, owner.pid, owner.start, owner.replica, at];
      const targets = q.targets.map((t, i) => {
        args.push(t.extension, t.host);
        return `(${i}, $${args.length - 1}::text, $${args.length}::text)`;
      });
      const [r] = await c.q(
        `WITH t(ord, extension, host) AS (VALUES ${targets.join(", ")}),
         pick AS (SELECT s.id FROM sandboxes s JOIN t ON s.extension = t.extension AND (t.host = '*' OR s.host = t.host)
                  WHERE s.pool = $1 AND s.pool_stage = 'warm' AND s.state = 'ready' AND s.profile_version = $2 AND ($3::text IS NULL OR s.ready_at >= $3)
                  ORDER BY t.ord, s.ready_at, s.id LIMIT 1 FOR UPDATE OF s SKIP LOCKED)
         UPDATE sandboxes u SET pool_stage = 'claimed', owner_pid = $4, owner_start = $5, owner_replica = $6, owner_beat_at = $7, updated_at = $7
         FROM pick WHERE u.id = pick.id RETURNING u.*`,
        args,
      );
      return r ? fromRow(r) : undefined;
    },
    async handOver(id, idempotencyKey) {
      // Returns the pool it had, so events this transaction appended before keep it (they stay hidden).
      const [r] = await c.q(
        "UPDATE sandboxes u SET pool = NULL, pool_stage = NULL, idempotency_key = $2 FROM (SELECT id, pool FROM sandboxes WHERE id = $1 FOR UPDATE) o WHERE u.id = o.id RETURNING o.pool",
        [id, idempotencyKey],
      );
      if (r) c.pinPool(id, (r.pool as string | null) ?? null);
    },
    async members(key, stages) {
      const args: unknown[] = key === undefined ? [] : [key];
      let byStage = "";
      if (stages?.length) {
        byStage = ` AND pool_stage IN (${stages.map((s) => `$${args.push(s)}`).join(", ")})`;
      }
      const sql = `SELECT * FROM sandboxes WHERE pool ${key === undefined ? "IS NOT NULL" : "= $1"}${byStage} AND destroyed_at IS NULL AND state != 'destroyed' ORDER BY created_at, id`;
      return (await c.q(sql, args)).map(fromRow);
    },
    async warmCounts(key, version, readyAfter) {
      const rows = await c.q(`SELECT extension, host, COUNT(*) AS n FROM sandboxes WHERE ${WARM} GROUP BY extension, host`, [key, version, readyAfter ?? null]);
      return new Map(rows.map((r) => [`${r.extension as string}@${r.host as string}`, r.n as number]));
    },
  };
}
