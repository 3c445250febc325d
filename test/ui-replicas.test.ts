/**
 * Dashboard sessions across `serve` replicas on one PostgreSQL database, as
 * behind a load balancer without sticky sessions: a browser signs in on
 * replica A through the real login form, then every request it makes lands
 * on B (pages, a form post with the session's CSRF value, a wrong one), a
 * restart of A keeps the session, a revoke ends it on every replica, and a
 * logout on B ends it on A. Attacks: a forged or unknown session id, one from
 * another database (a server on its own home), an overlong cookie.
 */
import { createHash } from "node:crypto";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Env } from "../src/config.js";
import { PostgresStore } from "../src/store/postgres.js";
import { freshDatabase } from "./fixtures/postgres.js";
import { type Replica, startReplica } from "./fixtures/replicas.js";
import { runCli } from "./helpers/cli.js";
import { makeHome, type TestHome } from "./helpers/home.js";
import { cookieOf, csrfIn, uiRequest } from "./helpers/ui-http.js";

let db: { url: string; drop(): Promise<void> };
let home: TestHome;
let store: PostgresStore;
let a: Replica;
let b: Replica;
let adm: { token: string; id: string };
const started: Replica[] = [];
const digest = (s: string) => createHash("sha256").update(s).digest("hex");

async function replica(env: Env, id: string): Promise<Replica> {
  // No reaper: nothing but these requests changes the store.
  const r = await startReplica({ ...env, SANDBOXER_REPLICA_ID: id }, ["--no-reaper"]);
  started.push(r);
  return r;
}

async function mint(env: Env): Promise<{ token: string; id: string }> {
  const r = await runCli(["tokens", "create", "--actor", "adm", "--json"], env);
  expect(r.code, r.stderr).toBe(0);
  const { token, tokenId } = r.json<{ token: string; tokenId: string }>();
  return { token, id: tokenId };
}

/** A request as the browser sends it: its cookie, no redirects followed. */
const send = (r: Replica, path: string, cookie: string, form?: Record<string, string>) => uiRequest(r.url, path, cookie, form);

/** Sign in through GET and POST /ui/login, as the form does; the `sbx_ui` cookie and the CSRF value its pages carry. */
async function signIn(r: Replica, token: string): Promise<{ cookie: string; sid: string; csrf: string }> {
  const form = await send(r, "/ui/login", "");
  const loginCookie = cookieOf(form, "sbx_ui_login") as string;
  const loginCsrf = csrfIn(await form.text()) as string;
  const res = await send(r, "/ui/login", loginCookie, { _csrf: loginCsrf, token });
  expect(res.status).toBe(303);
  const cookie = cookieOf(res, "sbx_ui") as string;
  expect(cookie).toMatch(/^sbx_ui=[A-Za-z0-9_-]{43}$/);
  const page = await send(r, "/ui/sandboxes", cookie);
  expect(page.status).toBe(200);
  return { cookie, sid: cookie.slice("sbx_ui=".length), csrf: csrfIn(await page.text()) as string };
}

/** Where a page request went: 200 (shown) or the login form (signed out). */
async function page(r: Replica, cookie: string, path = "/ui/sandboxes"): Promise<string> {
  const res = await send(r, path, cookie);
  await res.body?.cancel();
  return res.status === 200 ? "shown" : `${res.status} ${res.headers.get("location")}`;
}

const poolSize = async (): Promise<number | null | undefined> => (await store.pools.get("profile.saas-stub"))?.size;

beforeAll(async () => {
  db = await freshDatabase(inject("pgAdminUrl"));
  home = makeHome({ SANDBOXER_DATABASE_URL: db.url });
  store = new PostgresStore(db.url);
  adm = await mint(home.env);
  a = await replica(home.env, "a");
  b = await replica(home.env, "b");
}, 120_000);

afterAll(async () => {
  for (const r of started) await r.stop();
  await store?.close();
  await home?.cleanup();
  await db?.drop();
});

describe("dashboard sessions across replicas on one PostgreSQL", () => {
  it("signed in on A, the browser is signed in on B: pages, posts with the session's CSRF value; a wrong one refused", { timeout: 60_000 }, async () => {
    const s = await signIn(a, adm.token);
    expect(await page(b, s.cookie)).toBe("shown");
    expect(await page(b, s.cookie, "/ui/pools")).toBe("shown");
    // The CSRF value travels with the session: B's pages carry the one A's did.
    expect(csrfIn(await (await send(b, "/ui/sandboxes", s.cookie)).text())).toBe(s.csrf);

    const set = await send(b, "/ui/pools/set", s.cookie, { _csrf: s.csrf, profile: "profile.saas-stub", size: "0", maxIdle: "15m" });
    expect(set.status).toBe(303);
    expect(set.headers.get("location")).toBe("/ui/pools?done=set");
    expect(await poolSize()).toBe(0);
    for (const csrf of ["", "x".repeat(43), `${s.csrf}x`]) {
      const wrong = await send(b, "/ui/pools/set", s.cookie, { _csrf: csrf, profile: "profile.saas-stub", size: "3", maxIdle: "15m" });
      expect(wrong.status, csrf).toBe(403);
      expect(await wrong.text()).toContain("CSRF");
    }
    expect(await poolSize()).toBe(0);

    // Only the session id's digest and the token's id are in the database: neither secret.
    expect(await store.uiSessions.get(digest(s.sid))).toMatchObject({ tokenId: adm.id, csrf: s.csrf });
    const rows = await dump();
    expect(rows).toContain(digest(s.sid));
    expect(rows).not.toContain(s.sid);
    expect(rows).not.toContain(adm.token.slice(`sbx_${adm.id}_`.length));
  });

  it("a restart of a replica keeps the session; logout on B ends it on A too", { timeout: 60_000 }, async () => {
    const s = await signIn(a, adm.token);
    await a.stop();
    a = await replica(home.env, "a");
    expect(await page(a, s.cookie)).toBe("shown");
    expect(await page(b, s.cookie)).toBe("shown");
    // Logout is a state change: without the CSRF value it is refused and the session lives on.
    expect((await send(b, "/ui/logout", s.cookie, {})).status).toBe(403);
    expect(await page(a, s.cookie)).toBe("shown");
    const out = await send(b, "/ui/logout", s.cookie, { _csrf: s.csrf });
    expect(out.status).toBe(303);
    expect(cookieOf(out, "sbx_ui")).toBe("sbx_ui=");
    expect(await page(a, s.cookie)).toBe("303 /ui/login");
    expect(await page(b, s.cookie)).toBe("303 /ui/login");
    expect(await store.uiSessions.get(digest(s.sid))).toBeUndefined();
  });

  it("revoking the token (on A's machine) ends its sessions on B at once", { timeout: 60_000 }, async () => {
    const tenant = await mint(home.env);
    const s = await signIn(a, tenant.token);
    const keep = await signIn(a, adm.token);
    expect(await page(b, s.cookie)).toBe("shown");
    const r = await runCli(["tokens", "revoke", tenant.id], home.env);
    expect(r.code, r.stderr).toBe(0);
    expect(await page(b, s.cookie)).toBe("303 /ui/login");
    expect(await page(a, s.cookie)).toBe("303 /ui/login");
    const post = await send(b, "/ui/pools/set", s.cookie, { _csrf: s.csrf, profile: "profile.saas-stub", size: "3", maxIdle: "15m" });
    expect(post.status).toBe(401);
    expect(await poolSize()).toBe(0);
    // Its row went at that read; another token's session is untouched.
    expect(await store.uiSessions.get(digest(s.sid))).toBeUndefined();
    expect(await page(b, keep.cookie)).toBe("shown");
  });

  it("forged, unknown, overlong and foreign session ids are refused on every replica and change nothing", { timeout: 120_000 }, async () => {
    const s = await signIn(a, adm.token);
    // A server on its own home (its own SQLite database) with its own adm token: its session is nobody's here.
    const other = makeHome();
    let elsewhere: Replica | undefined;
    try {
      elsewhere = await replica(other.env, "elsewhere");
      const theirs = await signIn(elsewhere, (await mint(other.env)).token);
      const before = await store.uiSessions.count();
      const forged = [
        theirs.cookie,
        `sbx_ui=${"A".repeat(43)}`,
        `sbx_ui=${digest(s.sid)}`,
        `sbx_ui=${s.sid.slice(1)}x`,
        `sbx_ui=${s.sid}${"A".repeat(8000)}`,
        `sbx_ui=${adm.token}`,
        "sbx_ui=",
      ];
      for (const cookie of forged)
        for (const r of [a, b]) {
          expect(await page(r, cookie), cookie.slice(0, 60)).toBe("303 /ui/login");
          const post = await send(r, "/ui/pools/set", cookie, { _csrf: s.csrf, profile: "profile.saas-stub", size: "5", maxIdle: "15m" });
          expect(post.status, cookie.slice(0, 60)).toBe(401);
          expect((await send(r, "/ui/stream?view=table", cookie)).status).toBe(401);
        }
      expect(await poolSize()).toBe(0);
      expect(await store.uiSessions.count()).toBe(before);
      expect(await page(b, s.cookie)).toBe("shown");
    } finally {
      await elsewhere?.stop();
      await other.cleanup();
    }
  });
});

/** Every session row as text, read as the database holds it. */
async function dump(): Promise<string> {
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  try {
    return JSON.stringify(await sql.unsafe("SELECT * FROM ui_sessions"));
  } finally {
    await sql.end();
  }
}
