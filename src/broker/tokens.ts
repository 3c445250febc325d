import { createHash, randomBytes } from "node:crypto";
import { SandboxerError } from "../errors.js";
import { base32 } from "../ids.js";
import type { Store, TokenRow } from "../store/types.js";
import { ACTOR_TYPES, type ActorType, type Clock } from "../types.js";

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
const TOKEN_ID_RE = /^tok-[a-z2-7]{12}$/;
/** Verified tokens kept in memory; beyond this the oldest is forgotten (and verified again when it returns). */
const CACHE_SIZE = 4096;

/** Only this digest is stored; the secret is high-entropy, so a fast hash is enough. */
export const hashSecret = (token: string): string => createHash("sha256").update(token).digest("hex");

const toInfo = (r: TokenRow): TokenInfo => ({
  tokenId: r.id,
  actor: r.actor as ActorType,
  project: r.project,
  name: r.name,
  createdAt: r.createdAt,
  lastUsedAt: r.lastUsedAt,
  revokedAt: r.revokedAt,
});

/**
 * API bearer tokens: minted and revoked by `sandboxer tokens`, verified on
 * every API request. Verified tokens are cached with the store's revocation
 * epoch; requests compare the epoch (on SQLite a PRAGMA that changes only
 * when some connection commits, then one small count), read once per turn of
 * the event loop and shared by the requests of that turn. So a revoke by this
 * process applies at once, and one by any other process on the database to
 * every request that starts after it commits, without re-reading the token.
 */
export class Tokens {
  private readonly cache = new Map<string, { principal: Principal; epoch: string }>();
  private readonly byId = new Map<string, { principal: Principal; epoch: string }>();
  private readonly lastTouched = new Map<string, number>();
  private epoch: Promise<string> | undefined;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  async create(opts: { actor: string; project?: string | undefined; name?: string | undefined }): Promise<{ token: string; info: TokenInfo }> {
    if (!(ACTOR_TYPES as readonly string[]).includes(opts.actor)) {
      throw new SandboxerError("SBX_USAGE", `actor: '${opts.actor.slice(0, 20)}' must be one of ${ACTOR_TYPES.join(", ")}`, { details: { field: "actor" } });
    }
    const project = opts.project ?? null;
    if (opts.actor !== "adm" && project === null) {
      throw new SandboxerError("SBX_USAGE", `project: an ${opts.actor} token is bound to one project; give --project NAME`, { details: { field: "project" } });
    }
    if (project !== null && !PROJECT_RE.test(project)) {
      throw new SandboxerError("SBX_USAGE", "project: must be a name of lowercase letters, digits, '_', '.', '-' (at most 63)", {
        details: { field: "project" },
      });
    }
    if (opts.name !== undefined && !NAME_RE.test(opts.name)) {
      throw new SandboxerError("SBX_USAGE", "name: 1-64 characters of letters, digits, space, '_', '.', ':', '-'", { details: { field: "name" } });
    }
    const id = `tok-${base32(12)}`;
    const token = `sbx_${id}_${randomBytes(32).toString("base64url")}`;
    const row: TokenRow = {
      id,
      actor: opts.actor,
      project,
      name: opts.name ?? null,
      createdAt: this.clock.now().toISOString(),
      lastUsedAt: null,
      revokedAt: null,
    };
    await this.store.tokens.insert(row, hashSecret(token));
    return { token, info: toInfo(row) };
  }

  async list(): Promise<TokenInfo[]> {
    return (await this.store.tokens.list()).map(toInfo);
  }

  /**
   * Revoke by id, or by the whole token (which names its id). Anything that is
   * not a well-formed id may be a (mistyped) secret, so it is never echoed.
   */
  async revoke(idOrToken: string): Promise<TokenInfo> {
    const id = TOKEN_RE.exec(idOrToken)?.[1] ?? idOrToken;
    if (!TOKEN_ID_RE.test(id)) {
      throw new SandboxerError(
        "SBX_USAGE",
        "token: give its id (tok- and 12 characters, see: sandboxer tokens list) or the whole token; the argument is not shown, it may be a secret",
        { details: { field: "id" } },
      );
    }
    const row = await this.store.tokens.get(id);
    if (!row) throw new SandboxerError("SBX_NOT_FOUND", `no token '${id}' (see: sandboxer tokens list)`, { details: { id } });
    if (!row.revokedAt) await this.store.tokens.revoke(id, this.clock.now().toISOString());
    this.epoch = undefined;
    for (const [k, v] of this.cache) if (v.principal.tokenId === id) this.cache.delete(k);
    this.byId.delete(id);
    return toInfo((await this.store.tokens.get(id)) as TokenRow);
  }

  private currentEpoch(): Promise<string> {
    if (!this.epoch) {
      this.epoch = this.store.tokens.revocationEpoch();
      setImmediate(() => {
        this.epoch = undefined;
      });
    }
    return this.epoch;
  }

  /** The principal for a presented token, or undefined (unknown, malformed, revoked). */
  async verify(token: string): Promise<Principal | undefined> {
    const epoch = await this.currentEpoch();
    let hit = this.cache.get(token);
    if (!hit || hit.epoch !== epoch) {
      this.cache.delete(token);
      const m = TOKEN_RE.exec(token);
      if (!m) return undefined;
      const row = await this.store.tokens.findByHash(hashSecret(token));
      if (!row || !live(row) || row.id !== m[1]) return undefined;
      hit = { principal: principalOf(row), epoch };
      remember(this.cache, token, hit);
    }
    this.touch(hit.principal.tokenId);
    return hit.principal;
  }

  /**
   * The principal of a token named by its id while that token still works
   * (exists, not revoked), or undefined. For holders of a token's id rather
   * than its secret: a dashboard session re-checks its token with it on
   * every request, so a revoke ends the session as it ends API access.
   * Cached by the same revocation epoch as `verify`.
   */
  async principal(tokenId: string): Promise<Principal | undefined> {
    if (!TOKEN_ID_RE.test(tokenId)) return undefined;
    const epoch = await this.currentEpoch();
    let hit = this.byId.get(tokenId);
    if (!hit || hit.epoch !== epoch) {
      this.byId.delete(tokenId);
      const row = await this.store.tokens.get(tokenId);
      if (!row || !live(row)) return undefined;
      hit = { principal: principalOf(row), epoch };
      remember(this.byId, tokenId, hit);
    }
    this.touch(tokenId);
    return hit.principal;
  }

  /** last_used_at is coarse (once a minute per token) so reads never queue behind writes. */
  private touch(id: string): void {
    const now = this.clock.now();
    const t = now.getTime();
    if (t - (this.lastTouched.get(id) ?? 0) > 60_000) {
      this.lastTouched.set(id, t);
      this.store.tokens.touch(id, now.toISOString()).catch(() => {});
    }
  }
}

/** Whether a stored token still grants access (the one place to add another condition, such as an expiry). */
const live = (r: TokenRow): boolean => !r.revokedAt;

const principalOf = (r: TokenRow): Principal => ({ tokenId: r.id, actor: r.actor as ActorType, project: r.project });

function remember<V>(cache: Map<string, V>, key: string, value: V): void {
  if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value as string);
  cache.set(key, value);
}
