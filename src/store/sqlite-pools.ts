import { fromValues, SELECT_COLUMNS } from "./rows.js";
import type { Conn, Sync } from "./sqlite-conn.js";
import type { PoolRepo, PoolRow } from "./types.js";

type Raw = Record<string, unknown>;

function toPool(r: Raw): PoolRow {
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

/** Profile-declared pools have no row until something is counted: counting makes one. */
const ENSURE = "INSERT INTO pools (key, profile, inputs, updated_at) VALUES (?, ?, '{}', ?) ON CONFLICT(key) DO NOTHING";

/**
 * Warm pools on SQLite. A claim is one statement under the database write
 * lock (BEGIN IMMEDIATE from `atomic`), so two processes never take the same
 * member: the second sees it `claimed` and takes the next.
 */
export function sqlitePools(c: Conn): Sync<PoolRepo> {
  const get = (key: string) => {
    const r = c.stmt("SELECT * FROM pools WHERE key = ?").get(key) as Raw | undefined;
    return r ? toPool(r) : undefined;
  };
  return {
    list: () => (c.stmt("SELECT * FROM pools ORDER BY key").all() as Raw[]).map(toPool),
    get,
    put(s, at) {
      c.stmt(
        `INSERT INTO pools (key, profile, inputs, size, max_idle_seconds, updated_at) VALUES (@key, @profile, @inputs, @size, @maxIdle, @at)
         ON CONFLICT(key) DO UPDATE SET size = excluded.size, max_idle_seconds = excluded.max_idle_seconds, inputs = excluded.inputs, updated_at = excluded.updated_at`,
      ).run({ key: s.key, profile: s.profile, inputs: JSON.stringify(s.inputs), size: s.size, maxIdle: s.maxIdleSeconds, at });
    },
    count(key, profile, outcome, at) {
      c.atomic(() => {
        c.stmt(ENSURE).run(key, profile, at);
        const col = outcome === "hit" ? "hits" : "misses";
        c.stmt(`UPDATE pools SET ${col} = ${col} + 1, short_since = COALESCE(short_since, ?), updated_at = ? WHERE key = ?`).run(at, at, key);
      });
    },
    refilled(key, at, full) {
      const p = get(key);
      if (!p?.shortSince) {
        if (p && !full) c.stmt("UPDATE pools SET short_since = ? WHERE key = ?").run(at, key);
        return;
      }
      const lag = Math.max(0, Date.parse(at) - Date.parse(p.shortSince));
      c.stmt("UPDATE pools SET lag_ms_sum = lag_ms_sum + ?, lag_count = lag_count + 1, lag_ms_last = ?, short_since = ?, updated_at = ? WHERE key = ?").run(
        lag,
        lag,
        full ? null : at,
        at,
        key,
      );
    },
    claim(q, owner, at) {
      return c.atomic(() => {
        const rows = c
          .stmt(
            `SELECT id, extension, host FROM sandboxes WHERE pool = @pool AND pool_stage = 'warm' AND state = 'ready' AND profile_version = @version
             AND (@readyAfter IS NULL OR ready_at >= @readyAfter) ORDER BY ready_at, id`,
          )
          .all({ pool: q.pool, version: q.profileVersion, readyAfter: q.readyAfter ?? null }) as { id: string; extension: string; host: string }[];
        for (const t of q.targets) {
          const m = rows.find((r) => r.extension === t.extension && (t.host === "*" || r.host === t.host));
          if (!m) continue;
          c.stmt(
            "UPDATE sandboxes SET pool_stage = 'claimed', owner_pid = ?, owner_start = ?, owner_replica = ?, owner_beat_at = ?, updated_at = ? WHERE id = ? AND pool_stage = 'warm'",
          ).run(owner.pid, owner.start, owner.replica, at, at, m.id);
          const v = c.stmt(`SELECT ${SELECT_COLUMNS} FROM sandboxes WHERE id = ?`).raw(true).get(m.id) as unknown[];
          return fromValues(v);
        }
        return undefined;
      });
    },
    handOver(id, idempotencyKey) {
      c.stmt("UPDATE sandboxes SET pool = NULL, pool_stage = NULL, idempotency_key = ? WHERE id = ?").run(idempotencyKey, id);
    },
    members(key, stages) {
      const args: unknown[] = key === undefined ? [] : [key];
      const byStage = stages?.length ? ` AND pool_stage IN (${stages.map(() => "?").join(", ")})` : "";
      if (stages?.length) args.push(...stages);
      const sql = `SELECT ${SELECT_COLUMNS} FROM sandboxes WHERE pool ${key === undefined ? "IS NOT NULL" : "= ?"}${byStage} AND destroyed_at IS NULL AND state != 'destroyed' ORDER BY created_at, id`;
      return (
        c
          .stmt(sql)
          .raw(true)
          .all(...args) as unknown[][]
      ).map(fromValues);
    },
    warmCounts(key, version, readyAfter) {
      const sql =
        "SELECT extension, host, COUNT(*) AS n FROM sandboxes WHERE pool = ? AND pool_stage = 'warm' AND state = 'ready' AND profile_version = ? AND (? IS NULL OR ready_at >= ?) GROUP BY extension, host";
      const out = new Map<string, number>();
      for (const r of c.stmt(sql).all(key, version, readyAfter ?? null, readyAfter ?? null) as { extension: string; host: string; n: number }[])
        out.set(`${r.extension}@${r.host}`, r.n);
      return out;
    },
  };
}
