import { createHash, randomBytes } from "node:crypto";
import { SandboxerError } from "../errors.js";
import { base32 } from "../ids.js";
import type { SqliteStore } from "../store/sqlite.js";
import { ACTOR_TYPES, type ActorType } from "../types.js";

/** What a bearer token lets its holder be: `adm` sees everything, `agt`/`atm` one project. */
export interface Principal {
  tokenId: string;
  actor: ActorType;
  project: string | null;
}

export interface TokenInfo extends Principal {
  name: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

const PROJECT_RE = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9 _.:-]{0,63}$/;
/** `sbx_` + token id + `_` + 43 base64url characters (256 random bits). */
const TOKEN_RE = /^sbx_(tok-[a-z2-7]{12})_([A-Za-z0-9_-]{43})$/;

/** Only this digest is stored; the secret is high-entropy, so a fast hash is enough. */
export const hashSecret = (token: string): string => createHash("sha256").update(token).digest("hex");

type Row = { id: string; actor: string; project: string | null; name: string | null; created_at: string; last_used_at: string | null; revoked_at: string | null };

const toInfo = (r: Row): TokenInfo => ({
  tokenId: r.id,
  actor: r.actor as ActorType,
  project: r.project,
  name: r.name,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  revokedAt: r.revoked_at,
});

/** Token table access; used by `sandboxer tokens` and the API's auth middleware. */
export class TokenStore {
  private lastTouched = new Map<string, number>();
  /** Prepared once: verify runs on every API request. */
  private byHash: ReturnType<SqliteStore["db"]["prepare"]> | undefined;

  constructor(private readonly store: SqliteStore) {}

  create(opts: { actor: string; project?: string | undefined; name?: string | undefined; now?: Date }): { token: string; info: TokenInfo } {
    if (!(ACTOR_TYPES as readonly string[]).includes(opts.actor)) {
      throw new SandboxerError("SBX_USAGE", `actor: '${opts.actor.slice(0, 20)}' must be one of ${ACTOR_TYPES.join(", ")}`, { details: { field: "actor" } });
    }
    const project = opts.project ?? null;
    if (opts.actor !== "adm" && project === null) {
      throw new SandboxerError("SBX_USAGE", `project: an ${opts.actor} token is bound to one project; give --project NAME`, { details: { field: "project" } });
    }
    if (project !== null && !PROJECT_RE.test(project)) {
      throw new SandboxerError("SBX_USAGE", "project: must be a name of lowercase letters, digits, '_', '.', '-' (at most 63)", { details: { field: "project" } });
    }
    if (opts.name !== undefined && !NAME_RE.test(opts.name)) {
      throw new SandboxerError("SBX_USAGE", "name: 1-64 characters of letters, digits, space, '_', '.', ':', '-'", { details: { field: "name" } });
    }
    const id = `tok-${base32(12)}`;
    const token = `sbx_${id}_${randomBytes(32).toString("base64url")}`;
    const createdAt = (opts.now ?? new Date()).toISOString();
    this.store.db
      .prepare("INSERT INTO api_tokens (id, secret_hash, actor, project, name, created_at) VALUES (?, ?, ?, ?, ?, ?)")
      .run(id, hashSecret(token), opts.actor, project, opts.name ?? null, createdAt);
    return { token, info: { tokenId: id, actor: opts.actor as ActorType, project, name: opts.name ?? null, createdAt, lastUsedAt: null, revokedAt: null } };
  }

  list(): TokenInfo[] {
    return (this.store.db.prepare("SELECT * FROM api_tokens ORDER BY created_at, id").all() as Row[]).map(toInfo);
  }

  revoke(id: string, now: Date = new Date()): TokenInfo {
    const row = this.store.db.prepare("SELECT * FROM api_tokens WHERE id = ?").get(id) as Row | undefined;
    if (!row) throw new SandboxerError("SBX_NOT_FOUND", `no token '${id.slice(0, 40)}' (see: sandboxer tokens list)`, { details: { id } });
    if (!row.revoked_at) this.store.db.prepare("UPDATE api_tokens SET revoked_at = ? WHERE id = ?").run(now.toISOString(), id);
    return toInfo(this.store.db.prepare("SELECT * FROM api_tokens WHERE id = ?").get(id) as Row);
  }

  /**
   * The principal for a presented token, or undefined (unknown, malformed,
   * revoked). Looked up on every request so a revoke from another process
   * applies at once.
   */
  verify(token: string, now: Date = new Date()): Principal | undefined {
    const m = TOKEN_RE.exec(token);
    if (!m) return undefined;
    this.byHash ??= this.store.db.prepare("SELECT * FROM api_tokens WHERE secret_hash = ?");
    const row = this.byHash.get(hashSecret(token)) as Row | undefined;
    if (!row || row.revoked_at || row.id !== m[1]) return undefined;
    // last_used_at is coarse (once a minute) so reads never queue behind writes.
    const t = now.getTime();
    if (t - (this.lastTouched.get(row.id) ?? 0) > 60_000) {
      this.lastTouched.set(row.id, t);
      this.store.db.prepare("UPDATE api_tokens SET last_used_at = ? WHERE id = ?").run(now.toISOString(), row.id);
    }
    return { tokenId: row.id, actor: row.actor as ActorType, project: row.project };
  }
}
