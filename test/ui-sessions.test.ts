/**
 * Dashboard sessions on a real SQLite store with the broker's real tokens,
 * on an injected clock: two `Sessions` over two connections stand for two
 * processes (the replica test over HTTP on PostgreSQL: ui-replicas.test.ts).
 * Idle end, the throttled last-seen write, revocation, the caps, the sweep,
 * nothing usable at rest, and cookie values that are no session of ours.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Tokens } from "../src/broker/tokens.js";
import { SqliteStore } from "../src/store/sqlite.js";
import { systemClock } from "../src/types.js";
import { type SessionOptions, Sessions } from "../src/ui/session.js";

let dir: string;
let store: SqliteStore;
let other: SqliteStore;
let tokens: Tokens;
let now = Date.UTC(2031, 0, 1);
const nextTurn = () => new Promise((r) => setImmediate(r));
const digest = (s: string) => createHash("sha256").update(s).digest("hex");

/** Sessions over one connection, as one `serve` process holds them. */
function sessionsOn(s: SqliteStore, opts: SessionOptions = {}): Sessions {
  const t = s === store ? tokens : new Tokens(s, systemClock);
  return new Sessions({ verify: (x) => t.verify(x), principal: (id) => t.principal(id), rows: s.uiSessions }, { now: () => now, ...opts });
}

async function fresh(): Promise<void> {
  await store.uiSessions.sweep(new Date(8.64e15).toISOString(), 0);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sbx-ui-sessions-"));
  store = new SqliteStore(join(dir, "sandboxer.db"));
  other = new SqliteStore(join(dir, "sandboxer.db"));
  tokens = new Tokens(store, systemClock);
});

afterAll(async () => {
  await store?.close();
  await other?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("dashboard sessions in the store", () => {
  it("a session id is random and not the token; the store holds its digest and the token's id, never either secret", async () => {
    await fresh();
    const { token, info } = await tokens.create({ actor: "agt", project: "p1" });
    const s = sessionsOn(store);
    expect(await s.login("sbx_tok-aaaaaaaaaaaa_wrong")).toBeNull();
    const a = await s.login(token);
    const b = await s.login(` ${token}\n`);
    if (!a || !b) throw new Error("sign-in refused");
    expect(a.sid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.sid).not.toBe(b.sid);
    expect(a.session.csrf).not.toBe(b.session.csrf);
    expect(a.session.principal).toEqual({ tokenId: info.tokenId, actor: "agt", project: "p1" });
    const row = await store.uiSessions.get(digest(a.sid));
    expect(row).toMatchObject({ tokenId: info.tokenId, csrf: a.session.csrf });
    expect(await store.uiSessions.get(a.sid)).toBeUndefined();
    // Neither the cookie value nor the token's secret is anywhere in the database's files.
    await store.close();
    await other.close();
    const secret = token.slice(`sbx_${info.tokenId}_`.length);
    for (const f of ["sandboxer.db", "sandboxer.db-wal"].map((n) => join(dir, n)).filter(existsSync)) {
      const bytes = readFileSync(f).toString("latin1");
      for (const needle of [a.sid, b.sid, secret]) expect(bytes.includes(needle), f).toBe(false);
      expect(bytes.includes(digest(a.sid)), f).toBe(true);
    }
    store = new SqliteStore(join(dir, "sandboxer.db"));
    other = new SqliteStore(join(dir, "sandboxer.db"));
    tokens = new Tokens(store, systemClock);
  });

  it("another process resolves the session, with its CSRF value; logout there ends it here", async () => {
    await fresh();
    const { token, info } = await tokens.create({ actor: "adm" });
    const here = sessionsOn(store);
    const there = sessionsOn(other);
    const a = await here.login(token);
    const seen = await there.resolve(a?.sid);
    expect(seen).toEqual({ principal: { tokenId: info.tokenId, actor: "adm", project: null }, csrf: a?.session.csrf, tokenId: info.tokenId });
    await there.logout(a?.sid);
    expect(await here.resolve(a?.sid)).toBeNull();
    expect(await store.uiSessions.count()).toBe(0);
  });

  it("ends when idle; a page view writes last-seen only once it is touchMs old", async () => {
    await fresh();
    const { token } = await tokens.create({ actor: "adm" });
    const s = sessionsOn(store, { idleMs: 10_000, touchMs: 1000 });
    const start = now;
    const a = await s.login(token);
    const key = digest(a?.sid as string);
    const lastSeen = async () => (await store.uiSessions.get(key))?.lastSeen;
    now = start + 999;
    expect(await s.resolve(a?.sid)).not.toBeNull();
    expect(await lastSeen()).toBe(new Date(start).toISOString());
    now = start + 1000;
    expect(await s.resolve(a?.sid)).not.toBeNull();
    expect(await lastSeen()).toBe(new Date(start + 1000).toISOString());
    now = start + 11_000;
    expect(await s.resolve(a?.sid)).not.toBeNull();
    now = start + 21_001;
    expect(await s.resolve(a?.sid)).toBeNull();
    // Removed on that read, not only refused.
    expect(await lastSeen()).toBeUndefined();
  });

  it("a revoked token ends its sessions at once, in every process, and its rows go", async () => {
    await fresh();
    const { token, info } = await tokens.create({ actor: "agt", project: "p1" });
    const here = sessionsOn(store);
    const there = sessionsOn(other);
    const a = await here.login(token);
    expect(await there.resolve(a?.sid)).not.toBeNull();
    await new Tokens(other, systemClock).revoke(info.tokenId);
    // A revoke elsewhere counts for requests that start after it: the next turn of the event loop.
    await nextTurn();
    expect(await here.resolve(a?.sid)).toBeNull();
    expect(await store.uiSessions.count()).toBe(0);
    expect(await here.login(token)).toBeNull();
  });

  it("keeps at most `max` sessions: a sign-in drops the least recently seen; the sweep drops idle and revoked ones", async () => {
    await fresh();
    const { token } = await tokens.create({ actor: "adm" });
    const doomed = await tokens.create({ actor: "adm" });
    const s = sessionsOn(store, { max: 2, touchMs: 1 });
    const start = now;
    const a = await s.login(token);
    now += 10;
    const b = await s.login(token);
    now += 10;
    expect(await s.resolve(a?.sid)).not.toBeNull();
    now += 10;
    const c = await s.login(token);
    expect(await s.count()).toBe(2);
    expect(await s.resolve(b?.sid)).toBeNull();
    expect(await s.resolve(a?.sid)).not.toBeNull();
    expect(await s.resolve(c?.sid)).not.toBeNull();

    // Idle ones and those of a revoked token go at the next sign-in, without being read.
    const roomy = sessionsOn(store, { max: 100, idleMs: 60_000 });
    await roomy.login(doomed.token);
    await tokens.revoke(doomed.info.tokenId);
    now = start + 120_000;
    const d = await roomy.login(token);
    expect(await s.count()).toBe(1);
    expect(await roomy.resolve(d?.sid)).not.toBeNull();
  });

  it("one token's sign-ins over and over push out only that token's oldest sessions, never another's", async () => {
    await fresh();
    const operator = await tokens.create({ actor: "adm" });
    const tenant = await tokens.create({ actor: "agt", project: "p1" });
    const s = sessionsOn(store, { max: 5, perToken: 2 });
    const op = await s.login(operator.token);
    const mine = [];
    for (let i = 0; i < 20; i++) {
      now += 10;
      mine.push(await s.login(tenant.token));
    }
    expect(await s.resolve(op?.sid)).not.toBeNull();
    const live = await Promise.all(mine.map((m) => s.resolve(m?.sid)));
    expect(live.map((x) => x !== null)).toEqual([...Array(18).fill(false), true, true]);
    expect(await s.count()).toBe(3);
  });

  it("cookie values that are no session of ours resolve to nothing and change nothing", async () => {
    await fresh();
    const { token } = await tokens.create({ actor: "adm" });
    const s = sessionsOn(store);
    const a = await s.login(token);
    const sid = a?.sid as string;
    // A session of another database (another home) is unknown here.
    const elsewhere = mkdtempSync(join(tmpdir(), "sbx-ui-sessions-other-"));
    const foreign = new SqliteStore(join(elsewhere, "sandboxer.db"));
    try {
      const ft = new Tokens(foreign, systemClock);
      const theirs = await new Sessions({ verify: (x) => ft.verify(x), principal: (id) => ft.principal(id), rows: foreign.uiSessions }).login(
        (await ft.create({ actor: "adm" })).token,
      );
      expect(theirs).not.toBeNull();
      expect(await s.resolve(theirs?.sid)).toBeNull();
    } finally {
      await foreign.close();
      rmSync(elsewhere, { recursive: true, force: true });
    }
    const forged = [undefined, "", "x", "A".repeat(43), digest(sid), `${sid}A`, sid.slice(1), `${sid}\u0000`, "x".repeat(100_000), token];
    for (const f of forged) expect(await s.resolve(f), String(f).slice(0, 50)).toBeNull();
    for (const f of forged) await s.logout(f);
    expect(await s.resolve(sid)).not.toBeNull();
    expect(await s.count()).toBe(1);
  });
});
