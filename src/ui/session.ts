/**
 * Browser sessions for the dashboard. The login form takes an API bearer
 * token once; the browser then holds only a random session id in an HttpOnly,
 * SameSite=Strict cookie. Sessions live in the store (the broker's
 * `uiSessions`), so any `serve` replica on the same database resolves any
 * session and a restart signs nobody out. A row holds a digest of the session
 * id and the token's id, never the token's secret: every request asks the
 * broker whether that token still works and takes the principal from it, so a
 * revoked token ends its sessions at once, exactly as it ends API access.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Principal, UiSessionRepo } from "../broker.js";

export const SESSION_COOKIE = "sbx_ui";
/** Pre-login double-submit cookie: a cross-site page cannot log a browser into someone else's token. */
export const LOGIN_COOKIE = "sbx_ui_login";

export interface Session {
  principal: Principal;
  /** Sent back by every state-changing request (header X-CSRF-Token or form field _csrf). */
  csrf: string;
  tokenId: string;
}

export interface SessionOptions {
  /** Idle time after which a session ends (default 12 h). */
  idleMs?: number;
  /** Most sessions kept; a sign-in beyond it drops the least recently seen (default 10,000). */
  max?: number;
  /**
   * Most sessions kept per token (default 50): beyond it a sign-in drops that
   * token's least recently seen, so one token's holder signing in over and over
   * cannot push everyone else's sessions out under `max`.
   */
  perToken?: number;
  /** How stale the stored last-seen time may grow before a request writes it again (default 1 min, at most a tenth of `idleMs`). */
  touchMs?: number;
  now?: () => number;
}

/** What sessions need from the broker. */
export interface SessionBackend {
  /** The principal of a presented token (sign-in). */
  verify(token: string): Promise<Principal | undefined>;
  /** The principal of a token by id while it works (every request). */
  principal(tokenId: string): Promise<Principal | undefined>;
  rows: UiSessionRepo;
}

/** What `randomId` makes: 32 random bytes in base64url. Anything else is no session of ours and never reaches the store. */
const SID_RE = /^[A-Za-z0-9_-]{43}$/;
/** The row's key: a cookie value (256 random bits) cannot be recovered from it, so a fast hash is enough. */
const key = (sid: string) => createHash("sha256").update(sid).digest("hex");
const iso = (ms: number) => new Date(ms).toISOString();
export const randomId = (): string => randomBytes(32).toString("base64url");

/** Constant-time string comparison for CSRF values. */
export function sameSecret(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class Sessions {
  private readonly idleMs: number;
  private readonly max: number;
  private readonly perToken: number;
  private readonly touchMs: number;
  private readonly now: () => number;

  constructor(
    private readonly backend: SessionBackend,
    opts: SessionOptions = {},
  ) {
    this.idleMs = opts.idleMs ?? 12 * 3600_000;
    this.max = Math.max(1, opts.max ?? 10_000);
    this.perToken = Math.max(1, opts.perToken ?? 50);
    this.touchMs = opts.touchMs ?? Math.min(60_000, this.idleMs / 10);
    this.now = opts.now ?? Date.now;
  }

  /** A new session for a valid token, or null (unknown, malformed, revoked). */
  async login(token: string): Promise<{ sid: string; session: Session } | null> {
    const principal = await this.backend.verify(token.trim());
    if (!principal) return null;
    const now = this.now();
    // Sign-ins are rare, so the sweep rides on them: idle sessions, those of revoked
    // tokens, and beyond each cap the least recently seen, leaving room for this one.
    await this.backend.rows.sweep(iso(now - this.idleMs), this.max - 1);
    await this.backend.rows.trim(principal.tokenId, this.perToken - 1);
    const sid = randomId();
    const session: Session = { principal, csrf: randomId(), tokenId: principal.tokenId };
    await this.backend.rows.create({ key: key(sid), tokenId: principal.tokenId, csrf: session.csrf, createdAt: iso(now), lastSeen: iso(now) });
    return { sid, session };
  }

  /** The live session for a cookie value, its token checked again; null when gone (and its row removed). */
  async resolve(sid: string | undefined): Promise<Session | null> {
    if (!sid || !SID_RE.test(sid)) return null;
    const k = key(sid);
    const row = await this.backend.rows.get(k);
    if (!row) return null;
    const now = this.now();
    const seen = Date.parse(row.lastSeen);
    if (!(now - seen <= this.idleMs)) {
      await this.backend.rows.delete(k);
      return null;
    }
    const principal = await this.backend.principal(row.tokenId);
    if (!principal) {
      await this.backend.rows.delete(k);
      return null;
    }
    // A page view is not a write: last-seen moves only once it is `touchMs` old.
    if (now - seen >= this.touchMs) await this.backend.rows.touch(k, iso(now));
    return { principal, csrf: row.csrf, tokenId: row.tokenId };
  }

  async logout(sid: string | undefined): Promise<void> {
    if (sid && SID_RE.test(sid)) await this.backend.rows.delete(key(sid));
  }

  /** Sessions kept (every replica's). */
  count(): Promise<number> {
    return this.backend.rows.count();
  }
}
