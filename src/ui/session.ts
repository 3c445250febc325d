/**
 * Browser sessions for the dashboard. The login form takes an API bearer
 * token once; the browser then holds only a random session id in an HttpOnly,
 * SameSite=Strict cookie. The token stays in this process's memory (never in
 * a cookie, a URL or the HTML) so every request re-verifies it: a revoked
 * token ends its sessions at once, exactly as it ends API access.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Principal } from "../api/tokens.js";

export const SESSION_COOKIE = "sbx_ui";
/** Pre-login double-submit cookie: a cross-site page cannot log a browser into someone else's token. */
export const LOGIN_COOKIE = "sbx_ui_login";

export interface Session {
  principal: Principal;
  /** Sent back by every state-changing request (header X-CSRF-Token or form field _csrf). */
  csrf: string;
  token: string;
  lastSeen: number;
}

export interface SessionOptions {
  /** Idle time after which a session ends (default 12 h). */
  idleMs?: number;
  /** Most sessions held; the least recently used goes first (default 10,000). */
  max?: number;
  now?: () => number;
}

const key = (sid: string) => createHash("sha256").update(sid).digest("hex");
export const randomId = (): string => randomBytes(32).toString("base64url");

/** Constant-time string comparison for CSRF values. */
export function sameSecret(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class Sessions {
  /** Keyed by a digest of the session id: the map never holds a usable cookie value. */
  private readonly byKey = new Map<string, Session>();
  private readonly idleMs: number;
  private readonly max: number;
  private readonly now: () => number;

  constructor(
    private readonly tokens: { verify(token: string): Principal | undefined | Promise<Principal | undefined> },
    opts: SessionOptions = {},
  ) {
    this.idleMs = opts.idleMs ?? 12 * 3600_000;
    this.max = opts.max ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  /** A new session for a valid token, or null (unknown, malformed, revoked). */
  async login(token: string): Promise<{ sid: string; session: Session } | null> {
    const principal = await this.tokens.verify(token.trim());
    if (!principal) return null;
    const sid = randomId();
    const session: Session = { principal, csrf: randomId(), token: token.trim(), lastSeen: this.now() };
    if (this.byKey.size >= this.max) {
      const oldest = this.byKey.keys().next().value;
      if (oldest !== undefined) this.byKey.delete(oldest);
    }
    this.byKey.set(key(sid), session);
    return { sid, session };
  }

  /** The live session for a cookie value, its token verified again; null when gone. */
  async resolve(sid: string | undefined): Promise<Session | null> {
    if (!sid || sid.length > 100) return null;
    const k = key(sid);
    const s = this.byKey.get(k);
    if (!s) return null;
    const now = this.now();
    if (now - s.lastSeen > this.idleMs) {
      this.byKey.delete(k);
      return null;
    }
    const principal = await this.tokens.verify(s.token);
    if (!principal) {
      this.byKey.delete(k);
      return null;
    }
    s.principal = principal;
    s.lastSeen = now;
    // Re-inserted so iteration order is least-recently-used first (eviction above).
    this.byKey.delete(k);
    this.byKey.set(k, s);
    return s;
  }

  logout(sid: string | undefined): void {
    if (sid) this.byKey.delete(key(sid));
  }

  get size(): number {
    return this.byKey.size;
  }
}
