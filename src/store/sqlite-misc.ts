import type { ActorType } from "../types.js";
import type { Conn, Sync } from "./sqlite-conn.js";
import { snapshotFromRow } from "./rows.js";
import type { IdempotencyRepo, LeaseRepo, SnapshotFilter, SnapshotRepo, TokenRepo, TokenRow, UiSessionRepo, UiSessionRow } from "./types.js";

type Raw = Record<string, unknown>;

export function sqliteSnapshots(c: Conn): Sync<SnapshotRepo> {
  return {
    insert(s) {
      c.stmt(
        `INSERT INTO snapshots (id, name, sandbox_id, profile, profile_version, extension, host, inputs, actor, project, format, sha256, size_bytes, file, created_at)
         VALUES (@id, @name, @sandboxId, @profile, @profileVersion, @extension, @host, @inputs, @actor, @project, @format, @sha256, @sizeBytes, @file, @createdAt)`,
      ).run({ ...s, inputs: JSON.stringify(s.inputs) });
    },
    get(id) {
      const r = c.stmt("SELECT * FROM snapshots WHERE id = ?").get(id) as Raw | undefined;
      return r ? snapshotFromRow(r) : undefined;
    },
    list(filter: SnapshotFilter = {}) {
      const where: string[] = [];
      const args: Record<string, unknown> = {};
      for (const [key, col] of [
        ["sandboxId", "sandbox_id"],
        ["profile", "profile"],
        ["project", "project"],
      ] as const) {
        if (!filter[key]) continue;
        where.push(`${col} = @${key}`);
        args[key] = filter[key];
      }
      const sql = `SELECT * FROM snapshots ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at, id`;
      return (c.stmt(sql).all(args) as Raw[]).map(snapshotFromRow);
    },
    delete(id) {
      return c.stmt("DELETE FROM snapshots WHERE id = ?").run(id).changes > 0;
    },
  };
}

type RawToken = {
  id: string;
  actor: string;
  project: string | null;
  name: string | null;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
};

const toToken = (r: RawToken): TokenRow => ({
  id: r.id,
  actor: r.actor as ActorType,
  project: r.project,
  name: r.name,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  revokedAt: r.revoked_at,
});

export function sqliteTokens(c: Conn): Sync<TokenRepo> {
  // PRAGMA data_version changes when another connection (this process or another) commits;
  // until it does, and until this connection revokes, the revocation count cannot have moved.
  let seenVersion = -1;
  let epoch: string | undefined;
  return {
    insert(t, secretHash) {
      c.stmt("INSERT INTO api_tokens (id, secret_hash, actor, project, name, created_at) VALUES (?, ?, ?, ?, ?, ?)").run(
        t.id,
        secretHash,
        t.actor,
        t.project,
        t.name,
        t.createdAt,
      );
    },
    list() {
      return (c.stmt("SELECT * FROM api_tokens ORDER BY created_at, id").all() as RawToken[]).map(toToken);
    },
    get(id) {
      const r = c.stmt("SELECT * FROM api_tokens WHERE id = ?").get(id) as RawToken | undefined;
      return r ? toToken(r) : undefined;
    },
    findByHash(hash) {
      const r = c.stmt("SELECT * FROM api_tokens WHERE secret_hash = ?").get(hash) as RawToken | undefined;
      return r ? toToken(r) : undefined;
    },
    revoke(id, at) {
      c.stmt("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL").run(at, id);
      epoch = undefined;
    },
    touch(id, at) {
      c.stmt("UPDATE api_tokens SET last_used_at = ? WHERE id = ?").run(at, id);
    },
    revocationEpoch() {
      const version = c.stmt("PRAGMA data_version").pluck().get() as number;
      if (version !== seenVersion || epoch === undefined) {
        seenVersion = version;
        const r = c.stmt("SELECT COUNT(*) AS n, MAX(revoked_at) AS last FROM api_tokens WHERE revoked_at IS NOT NULL").get() as {
          n: number;
          last: string | null;
        };
        epoch = `${r.n}:${r.last ?? ""}`;
      }
      return epoch;
    },
  };
}

export function sqliteIdempotency(c: Conn): Sync<IdempotencyRepo> {
  return {
    get(key) {
      const r = c.stmt("SELECT request_hash, sandbox_id FROM idempotency_keys WHERE key = ?").get(key) as
        | { request_hash: string; sandbox_id: string }
        | undefined;
      return r ? { requestHash: r.request_hash, sandboxId: r.sandbox_id } : undefined;
    },
    put(key, requestHash, sandboxId, at) {
      c.stmt("INSERT INTO idempotency_keys (key, request_hash, sandbox_id, created_at) VALUES (?, ?, ?, ?)").run(key, requestHash, sandboxId, at);
    },
  };
}

export function sqliteLeases(c: Conn): Sync<LeaseRepo> {
  const get = (name: string) => {
    const r = c.stmt("SELECT holder, expires_at FROM leases WHERE name = ?").get(name) as { holder: string; expires_at: string } | undefined;
    return r ? { holder: r.holder, expiresAt: r.expires_at } : undefined;
  };
  return {
    acquire(name, holder, now, until) {
      return c.atomic(() => {
        const cur = get(name);
        if (cur && cur.holder !== holder && cur.expiresAt > now) return false;
        c.stmt("INSERT INTO leases VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at").run(
          name,
          holder,
          until,
        );
        return true;
      });
    },
    release(name, holder) {
      c.stmt("DELETE FROM leases WHERE name = ? AND holder = ?").run(name, holder);
    },
    get,
  };
}

type RawUiSession = { key: string; token_id: string; csrf: string; created_at: string; last_seen: string };

const toUiSession = (r: RawUiSession): UiSessionRow => ({ key: r.key, tokenId: r.token_id, csrf: r.csrf, createdAt: r.created_at, lastSeen: r.last_seen });

export function sqliteUiSessions(c: Conn): Sync<UiSessionRepo> {
  return {
    create(r) {
      c.stmt("INSERT INTO ui_sessions (key, token_id, csrf, created_at, last_seen) VALUES (@key, @tokenId, @csrf, @createdAt, @lastSeen)").run(r);
    },
    get(key) {
      const r = c.stmt("SELECT * FROM ui_sessions WHERE key = ?").get(key) as RawUiSession | undefined;
      return r ? toUiSession(r) : undefined;
    },
    touch(key, at) {
      c.stmt("UPDATE ui_sessions SET last_seen = ? WHERE key = ?").run(at, key);
    },
    delete(key) {
      return c.stmt("DELETE FROM ui_sessions WHERE key = ?").run(key).changes > 0;
    },
    sweep(idleBefore, keep) {
      return c.atomic(() => {
        const dead = c
          .stmt("DELETE FROM ui_sessions WHERE last_seen < ? OR token_id NOT IN (SELECT id FROM api_tokens WHERE revoked_at IS NULL)")
          .run(idleBefore).changes;
        // LIMIT -1: no limit, only the offset (SQLite's spelling).
        const over = c
          .stmt("DELETE FROM ui_sessions WHERE key IN (SELECT key FROM ui_sessions ORDER BY last_seen DESC, created_at DESC, key LIMIT -1 OFFSET ?)")
          .run(Math.max(0, keep)).changes;
        return dead + over;
      });
    },
    trim(tokenId, keep) {
      return c
        .stmt(
          "DELETE FROM ui_sessions WHERE key IN (SELECT key FROM ui_sessions WHERE token_id = ? ORDER BY last_seen DESC, created_at DESC, key LIMIT -1 OFFSET ?)",
        )
        .run(tokenId, Math.max(0, keep)).changes;
    },
    count() {
      return c.stmt("SELECT COUNT(*) FROM ui_sessions").pluck().get() as number;
    },
  };
}
