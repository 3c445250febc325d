import type { ActorType } from "../types.js";
import type { Row } from "./pg-conn.js";
import type { PgCtx } from "./pg-ctx.js";
import { snapshotFromRow } from "./rows.js";
import type { IdempotencyRepo, LeaseRepo, SnapshotFilter, SnapshotRepo, TokenRepo, TokenRow, UiSessionRepo } from "./types.js";

export function pgSnapshots(c: PgCtx): SnapshotRepo {
  return {
    async insert(s) {
      await c.q(
        `INSERT INTO snapshots (id, name, sandbox_id, profile, profile_version, extension, host, inputs, actor, project, format, sha256, size_bytes, file, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
        [
          s.id,
          s.name,
          s.sandboxId,
          s.profile,
          s.profileVersion,
          s.extension,
          s.host,
          JSON.stringify(s.inputs),
          s.actor,
          s.project,
          s.format,
          s.sha256,
          s.sizeBytes,
          s.file,
          s.createdAt,
        ],
      );
    },
    async get(id) {
      const [r] = await c.q("SELECT * FROM snapshots WHERE id = $1", [id]);
      return r ? snapshotFromRow(r) : undefined;
    },
    async list(filter: SnapshotFilter = {}) {
      const where: string[] = [];
      const args: unknown[] = [];
      for (const [key, col] of [
        ["sandboxId", "sandbox_id"],
        ["profile", "profile"],
        ["project", "project"],
      ] as const) {
        if (!filter[key]) continue;
        args.push(filter[key]);
        where.push(`${col} = $${args.length}`);
      }
      return (await c.q(`SELECT * FROM snapshots ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at, id`, args)).map(snapshotFromRow);
    },
    async delete(id) {
      return (await c.q("DELETE FROM snapshots WHERE id = $1 RETURNING id", [id])).length > 0;
    },
  };
}

const toToken = (r: Row): TokenRow => ({
  id: r.id as string,
  actor: r.actor as ActorType,
  project: (r.project as string | null) ?? null,
  name: (r.name as string | null) ?? null,
  createdAt: r.created_at as string,
  lastUsedAt: (r.last_used_at as string | null) ?? null,
  revokedAt: (r.revoked_at as string | null) ?? null,
});

export function pgTokens(c: PgCtx): TokenRepo {
  const one = async (text: string, arg: string) => {
    const [r] = await c.q(text, [arg]);
    return r ? toToken(r) : undefined;
  };
  return {
    async insert(t, secretHash) {
      await c.q("INSERT INTO api_tokens (id, secret_hash, actor, project, name, created_at) VALUES ($1, $2, $3, $4, $5, $6)", [
        t.id,
        secretHash,
        t.actor,
        t.project,
        t.name,
        t.createdAt,
      ]);
    },
    async list() {
      return (await c.q("SELECT * FROM api_tokens ORDER BY created_at, id")).map(toToken);
    },
    get: (id) => one("SELECT * FROM api_tokens WHERE id = $1", id),
    findByHash: (hash) => one("SELECT * FROM api_tokens WHERE secret_hash = $1", hash),
    async revoke(id, at) {
      await c.q("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL", [at, id]);
    },
    async touch(id, at) {
      await c.q("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2", [at, id]);
    },
    async revocationEpoch() {
      // One index-only read per request (api_tokens_revoked): a revoke on any replica counts on the next request.
      const [r] = await c.q("SELECT COUNT(*) AS n, MAX(revoked_at) AS last FROM api_tokens WHERE revoked_at IS NOT NULL");
      return `${r?.n ?? 0}:${(r?.last as string | null) ?? ""}`;
    },
  };
}

export function pgIdempotency(c: PgCtx): IdempotencyRepo {
  return {
    async get(key) {
      const [r] = await c.q("SELECT request_hash, sandbox_id FROM idempotency_keys WHERE key = $1", [key]);
      return r ? { requestHash: r.request_hash as string, sandboxId: r.sandbox_id as string } : undefined;
    },
    async put(key, requestHash, sandboxId, at) {
      await c.send("INSERT INTO idempotency_keys (key, request_hash, sandbox_id, created_at) VALUES ($1, $2, $3, $4)", [key, requestHash, sandboxId, at]);
    },
  };
}

export function pgLeases(c: PgCtx): LeaseRepo {
  return {
    async acquire(name, holder, now, until) {
      // One statement: the upsert locks the row, so of two replicas racing for an expired lease one gets it.
      const rows = await c.q(
        `INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
         WHERE leases.holder = excluded.holder OR leases.expires_at <= $4 RETURNING holder`,
        [name, holder, until, now],
      );
      return rows.length > 0;
    },
    async release(name, holder) {
      await c.q("DELETE FROM leases WHERE name = $1 AND holder = $2", [name, holder]);
    },
    async get(name) {
      const [r] = await c.q("SELECT holder, expires_at FROM leases WHERE name = $1", [name]);
      return r ? { holder: r.holder as string, expiresAt: r.expires_at as string } : undefined;
    },
  };
}

export function pgUiSessions(c: PgCtx): UiSessionRepo {
  return {
    async create(r) {
      await c.send("INSERT INTO ui_sessions (key, token_id, csrf, created_at, last_seen) VALUES ($1, $2, $3, $4, $5)", [
        r.key,
        r.tokenId,
        r.csrf,
        r.createdAt,
        r.lastSeen,
      ]);
    },
    async get(key) {
      const [r] = await c.q("SELECT key, token_id, csrf, created_at, last_seen FROM ui_sessions WHERE key = $1", [key]);
      return r
        ? { key: r.key as string, tokenId: r.token_id as string, csrf: r.csrf as string, createdAt: r.created_at as string, lastSeen: r.last_seen as string }
        : undefined;
    },
    async touch(key, at) {
      await c.send("UPDATE ui_sessions SET last_seen = $1 WHERE key = $2", [at, key]);
    },
    async delete(key) {
      return (await c.q("DELETE FROM ui_sessions WHERE key = $1 RETURNING key", [key])).length > 0;
    },
    sweep(idleBefore, keep) {
      return c.atomic(async (t) => {
        const dead = await t.q(
          `DELETE FROM ui_sessions s WHERE s.last_seen < $1
             OR NOT EXISTS (SELECT 1 FROM api_tokens a WHERE a.id = s.token_id AND a.revoked_at IS NULL) RETURNING key`,
          [idleBefore],
        );
        const over = await t.q(
          "DELETE FROM ui_sessions WHERE key IN (SELECT key FROM ui_sessions ORDER BY last_seen DESC, created_at DESC, key OFFSET $1) RETURNING key",
          [Math.max(0, keep)],
        );
        return dead.length + over.length;
      });
    },
    async trim(tokenId, keep) {
      const gone = await c.q(
        "DELETE FROM ui_sessions WHERE key IN (SELECT key FROM ui_sessions WHERE token_id = $1 ORDER BY last_seen DESC, created_at DESC, key OFFSET $2) RETURNING key",
        [tokenId, Math.max(0, keep)],
      );
      return gone.length;
    },
    async count() {
      const [r] = await c.q("SELECT COUNT(*) AS n FROM ui_sessions");
      return Number(r?.n ?? 0);
    },
  };
}
