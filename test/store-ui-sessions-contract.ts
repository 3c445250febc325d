/**
 * The dashboard sessions repository's contract, part of the store contract
 * suite (test/store-contract.ts runs it on SQLite and PostgreSQL): what one
 * connection writes another (a second process or replica) finds, by the key
 * it was given; the sweep's three reasons to drop a row; the caps.
 */
import { createHash } from "node:crypto";
import { expect, it } from "vitest";
import { randomIds } from "../src/ids.js";
import type { Store, UiSessionRow } from "../src/store/types.js";

const at = (s: number) => new Date(Date.UTC(2031, 0, 1, 0, 0, s)).toISOString();
const digest = (s: string) => createHash("sha256").update(s).digest("hex");

async function token(store: Store, revoked = false): Promise<string> {
  const id = `tok-${randomIds("tok").slice(4)}`;
  await store.tokens.insert({ id, actor: "adm", project: null, name: null, createdAt: at(0), lastUsedAt: null, revokedAt: null }, `hash-${id}`);
  if (revoked) await store.tokens.revoke(id, at(1));
  return id;
}

const session = (tokenId: string, seen: number, over: Partial<UiSessionRow> = {}): UiSessionRow => ({
  key: digest(randomIds("evt")),
  tokenId,
  csrf: randomIds("evt"),
  createdAt: at(0),
  lastSeen: at(seen),
  ...over,
});

/** Every test starts from an empty table: the cap counts every row. */
async function empty(store: Store): Promise<void> {
  await store.uiSessions.sweep(at(59), 0);
  expect(await store.uiSessions.count()).toBe(0);
}

export function testUiSessionStore(get: () => { store: Store; other: Store }): void {
  it("ui sessions: created on one connection, found on the other by the digest given; touched; deleted once", async () => {
    const { store, other } = get();
    await empty(store);
    const s = session(await token(store), 5);
    await store.uiSessions.create(s);
    expect(await other.uiSessions.get(s.key)).toEqual(s);
    // Found by exactly the key it was stored under: not by the digest of the key, not by a prefix.
    expect(await other.uiSessions.get(digest(s.key))).toBeUndefined();
    expect(await other.uiSessions.get(s.key.slice(0, 32))).toBeUndefined();
    await other.uiSessions.touch(s.key, at(30));
    expect(await store.uiSessions.get(s.key)).toMatchObject({ lastSeen: at(30), csrf: s.csrf, tokenId: s.tokenId });
    expect(await other.uiSessions.count()).toBe(1);
    expect(await other.uiSessions.delete(s.key)).toBe(true);
    expect(await store.uiSessions.delete(s.key)).toBe(false);
    expect(await store.uiSessions.get(s.key)).toBeUndefined();
    // A touch of a deleted session brings nothing back.
    await store.uiSessions.touch(s.key, at(40));
    expect(await store.uiSessions.count()).toBe(0);
  });

  it("ui sessions: a second session under one key is refused (keys are unique)", async () => {
    const { store, other } = get();
    await empty(store);
    const s = session(await token(store), 5);
    await store.uiSessions.create(s);
    await expect(other.uiSessions.create({ ...s, csrf: "other" })).rejects.toThrow();
    expect(await store.uiSessions.get(s.key)).toEqual(s);
    await store.uiSessions.delete(s.key);
  });

  it("ui sessions: a sweep drops the idle, those of revoked or unknown tokens, then the least recently seen beyond `keep`", async () => {
    const { store, other } = get();
    await empty(store);
    const live = await token(store);
    const idle = session(live, 1);
    const revoked = session(await token(store, true), 50);
    const unknown = session(`tok-${randomIds("tok").slice(4)}`, 50);
    const fresh = [20, 40, 30, 10].map((s) => session(live, s));
    for (const s of [idle, revoked, unknown, ...fresh]) await store.uiSessions.create(s);
    expect(await other.uiSessions.count()).toBe(7);
    // Idle: seen before 0:00:05. Beyond 2 kept: the two seen least recently (0:10 and 0:20) go.
    expect(await other.uiSessions.sweep(at(5), 2)).toBe(5);
    const left = await Promise.all([idle, revoked, unknown, ...fresh].map((s) => store.uiSessions.get(s.key)));
    expect(left.filter((s) => s !== undefined).map((s) => s.lastSeen)).toEqual([at(40), at(30)]);
    // Nothing more to do: a second sweep drops nothing.
    expect(await store.uiSessions.sweep(at(5), 2)).toBe(0);
    expect(await store.uiSessions.sweep(at(5), 0)).toBe(2);
    expect(await other.uiSessions.count()).toBe(0);
  });

  it("ui sessions: a trim keeps one token's most recently seen sessions and never touches another token's", async () => {
    const { store, other } = get();
    await empty(store);
    const [mine, theirs] = [await token(store), await token(store)];
    const old = session(theirs, 1);
    const own = [30, 10, 20, 40].map((s) => session(mine, s));
    for (const s of [old, ...own]) await store.uiSessions.create(s);
    expect(await other.uiSessions.trim(mine, 2)).toBe(2);
    const left = await Promise.all([old, ...own].map((s) => store.uiSessions.get(s.key)));
    expect(left.filter((s) => s !== undefined).map((s) => s.lastSeen)).toEqual([at(1), at(30), at(40)]);
    expect(await store.uiSessions.trim(mine, 2)).toBe(0);
    expect(await store.uiSessions.trim(`tok-${randomIds("tok").slice(4)}`, 0)).toBe(0);
    expect(await store.uiSessions.trim(mine, 0)).toBe(2);
    expect(await other.uiSessions.count()).toBe(1);
  });
}
