/**
 * In-process route tests (`app.request()`, no socket) on a real store and
 * real bubblewrap sandboxes: every route, auth, tenancy, validation, the
 * OpenAPI document, idempotency and limits.
 */
import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROUTES } from "../src/api/app.js";
import * as S from "../src/api/schemas.js";
import type { Sandbox } from "../src/types.js";
import { type ApiFixture, apiFixture } from "./helpers/api.js";
import { runCli } from "./helpers/cli.js";

let fx: ApiFixture;
beforeAll(async () => {
  fx = await apiFixture();
});
afterAll(async () => {
  await fx?.cleanup();
});

const json = async <T = Record<string, unknown>>(r: Response): Promise<T> => (await r.json()) as T;
const errorOf = async (r: Response) => (await json<{ error: { code: string; message: string } }>(r)).error;

async function create(token: string, body: Record<string, unknown> = { profile: "profile.local" }, headers: Record<string, string> = {}): Promise<Sandbox> {
  const r = await fx.call("POST", "/v1/sandboxes", { token, body, headers });
  expect(r.status, await r.clone().text()).toBe(201);
  return json<Sandbox>(r);
}

describe("public routes and the OpenAPI document", () => {
  it("healthz answers without a token", async () => {
    const r = await fx.call("GET", "/healthz", { token: null });
    expect(r.status).toBe(200);
    expect(await json(r)).toMatchObject({ ok: true });
  });

  it("openapi.json is a valid OpenAPI 3.1 document that covers every route the app answers", async () => {
    const r = await fx.call("GET", "/openapi.json", { token: null });
    const doc = await json<{ openapi: string; paths: Record<string, Record<string, { operationId: string }>> }>(r);
    expect(doc.openapi).toBe("3.1.0");
    const validator = new Validator();
    const res = await validator.validate(doc as unknown as Record<string, unknown>);
    expect(res.errors ?? []).toEqual([]);
    expect(res.valid).toBe(true);
    expect(() => validator.resolveRefs()).not.toThrow();
    // Every route Hono registered under /v1, /healthz or /readyz appears in the document, and vice versa.
    const registered = fx.app.routes
      .filter((x) => x.path.startsWith("/v1") || x.path === "/healthz" || x.path === "/readyz")
      .map((x) => `${x.method.toLowerCase()} ${x.path.replace(/:(\w+)/g, "{$1}")}`);
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`));
    expect(new Set(registered.filter((x) => !x.startsWith("all ")))).toEqual(new Set(documented));
    for (const needed of [
      "post /v1/sandboxes",
      "get /v1/sandboxes",
      "get /v1/sandboxes/{id}",
      "delete /v1/sandboxes/{id}",
      "post /v1/sandboxes/{id}/recreate",
      "post /v1/sandboxes/{id}/ttl",
      "post /v1/sandboxes/{id}/snapshots",
      "get /v1/snapshots",
      "post /v1/snapshots/{id}/restore",
      "post /v1/expire",
      "get /v1/credits",
      "get /v1/credits/history",
      "post /v1/credits",
      "post /v1/plan",
      "get /v1/hosts",
      "get /v1/profiles",
      "get /v1/events",
      "get /healthz",
      "get /readyz",
    ]) {
      expect(documented).toContain(needed);
    }
    expect(ROUTES.length).toBe(documented.length);
  });

  it("docs/api.md names every route", () => {
    const doc = readFileSync(new URL("../docs/api.md", import.meta.url), "utf8");
    for (const r of ROUTES) expect(doc, r.path).toContain(r.path);
  });

  it("serves an interactive docs page", async () => {
    const r = await fx.call("GET", "/docs", { token: null });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toContain("text/html");
    expect(await r.text()).toContain("/openapi.json");
  });

  it("unknown routes are a JSON 404", async () => {
    const r = await fx.call("GET", "/v1/nothing-here");
    expect(r.status).toBe(404);
    expect((await errorOf(r)).code).toBe("SBX_NOT_FOUND");
  });
});

describe("auth", () => {
  it("no token -> 401", async () => {
    const r = await fx.call("GET", "/v1/sandboxes", { token: null });
    expect(r.status).toBe(401);
    expect(await errorOf(r)).toMatchObject({ code: "SBX_UNAUTHORIZED" });
  });

  it("an unknown or malformed token -> 401", async () => {
    for (const token of ["nope", `${fx.tokens.adm.slice(0, -3)}AAA`]) {
      const r = await fx.call("GET", "/v1/sandboxes", { token });
      expect(r.status).toBe(401);
    }
  });

  it("a token revoked by another process (sandboxer tokens revoke) -> 401 on the very next request", async () => {
    const { token, info } = await fx.broker.createToken({ actor: "agt", project: "p8" });
    // Twice: the second answer comes from the server's cache of verified tokens.
    expect((await fx.call("GET", "/v1/sandboxes", { token })).status).toBe(200);
    expect((await fx.call("GET", "/v1/sandboxes", { token })).status).toBe(200);
    const revoked = await runCli(["tokens", "revoke", info.tokenId, "--json"], fx.home.env);
    expect(revoked.code, revoked.stderr).toBe(0);
    const r = await fx.call("GET", "/v1/sandboxes", { token });
    expect(r.status).toBe(401);
    expect((await errorOf(r)).message).toContain("revoked");
  });

  it("a revoked token -> 401 at once", async () => {
    const { token, info } = await fx.broker.createToken({ actor: "agt", project: "p9" });
    expect((await fx.call("GET", "/v1/sandboxes", { token })).status).toBe(200);
    await fx.broker.revokeToken(info.tokenId);
    const r = await fx.call("GET", "/v1/sandboxes", { token });
    expect(r.status).toBe(401);
    expect((await errorOf(r)).message).toContain("revoked");
  });

  it("operator-only routes refuse agent tokens with 403", async () => {
    const r = await fx.call("POST", "/v1/reconcile", { token: fx.tokens.p1 });
    expect(r.status).toBe(403);
    expect((await errorOf(r)).code).toBe("SBX_FORBIDDEN");
  });

  it("the access log names the token id, never the secret", async () => {
    const r = await fx.call("GET", "/v1/hosts", { token: fx.tokens.p1, headers: { "X-Request-Id": "trace-7" } });
    expect(r.headers.get("X-Request-Id")).toBe("trace-7");
    const text = fx.log.join("\n");
    // The secret is everything after `sbx_<id>_` (its base64url may itself contain `_`).
    for (const t of Object.values(fx.tokens)) expect(text).not.toContain(t.replace(/^sbx_tok-[a-z2-7]{12}_/, ""));
    const line = JSON.parse(fx.log.at(-1) ?? "{}");
    expect(line).toMatchObject({ method: "GET", path: "/v1/hosts", status: 200, actor: "agt", project: "p1" });
    expect(line.token).toMatch(/^tok-/);
  });
});

describe("sandboxes", () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await create(fx.tokens.p1);
  });

  it("create answers the ready record, stamped with the token's actor and project", () => {
    expect(sb).toMatchObject({ state: "ready", actor: "agt", project: "p1", profile: "profile.local" });
  });

  it("get, and 404 (not 403) for another project's token", async () => {
    expect(await json(await fx.call("GET", `/v1/sandboxes/${sb.id}`, { token: fx.tokens.atm1 }))).toMatchObject({ id: sb.id });
    const other = await fx.call("GET", `/v1/sandboxes/${sb.id}`, { token: fx.tokens.p2 });
    expect(other.status).toBe(404);
    const unknown = await fx.call("GET", "/v1/sandboxes/sbx-aaaaaaaaaaaa", { token: fx.tokens.p2 });
    expect((await errorOf(other)).message).toBe((await errorOf(unknown)).message.replace("sbx-aaaaaaaaaaaa", sb.id));
  });

  it("another project cannot destroy, recreate, exec, extend or snapshot it", async () => {
    for (const [m, p, body] of [
      ["DELETE", "", undefined],
      ["POST", "/recreate", undefined],
      ["POST", "/exec", { command: ["true"] }],
      ["POST", "/ttl", { duration: "1h" }],
      ["POST", "/snapshots", {}],
    ] as const) {
      const r = await fx.call(m, `/v1/sandboxes/${sb.id}${p}`, { token: fx.tokens.p2, body });
      expect(r.status, `${m} ${p}`).toBe(404);
    }
    expect((await json<Sandbox>(await fx.call("GET", `/v1/sandboxes/${sb.id}`))).state).toBe("ready");
  });

  it("a tenant cannot create into another project or as another actor", async () => {
    const r = await fx.call("POST", "/v1/sandboxes", { token: fx.tokens.p1, body: { profile: "profile.local", project: "p2" } });
    expect(r.status).toBe(403);
    expect((await errorOf(r)).message).toContain("project");
    const r2 = await fx.call("POST", "/v1/sandboxes", { token: fx.tokens.p1, body: { profile: "profile.local", actor: "adm" } });
    expect(r2.status).toBe(403);
  });

  it("list shows only the caller's project; adm sees all; filters and cursor paging", async () => {
    const mine = await create(fx.tokens.p2);
    const p2 = await json<{ items: Sandbox[] }>(await fx.call("GET", "/v1/sandboxes", { token: fx.tokens.p2 }));
    expect(p2.items.map((x) => x.id)).toEqual([mine.id]);
    const spoof = await json<{ items: Sandbox[] }>(await fx.call("GET", "/v1/sandboxes?project=p1", { token: fx.tokens.p2 }));
    expect(spoof.items).toEqual([]);
    const all = await json<{ items: Sandbox[] }>(await fx.call("GET", "/v1/sandboxes"));
    expect(all.items.map((x) => x.id)).toEqual(expect.arrayContaining([sb.id, mine.id]));
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = `/v1/sandboxes?limit=1&state=ready${cursor ? `&cursor=${cursor}` : ""}`;
      const page: { items: Sandbox[]; nextCursor: string | null } = await json(await fx.call("GET", q));
      expect(page.items.length).toBeLessThanOrEqual(1);
      seen.push(...page.items.map((x) => x.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(all.items.filter((x) => x.state === "ready").map((x) => x.id));
    const filtered = await json<{ items: Sandbox[] }>(await fx.call("GET", "/v1/sandboxes?project=p2"));
    expect(filtered.items.map((x) => x.id)).toEqual([mine.id]);
  });

  it("exec runs argv inside the sandbox", async () => {
    const r = await fx.call("POST", `/v1/sandboxes/${sb.id}/exec`, { token: fx.tokens.p1, body: { command: ["sh", "-c", "echo $0 ok", "a'b"] } });
    expect(await json(r)).toMatchObject({ exitCode: 0, stdout: "a'b ok\n" });
  });

  it("recreate answers a new ready sandbox, then destroy", async () => {
    const r = await fx.call("POST", `/v1/sandboxes/${sb.id}/recreate`, { token: fx.tokens.p1 });
    expect(r.status).toBe(201);
    const next = await json<Sandbox>(r);
    expect(next.id).not.toBe(sb.id);
    expect(next.state).toBe("ready");
    const d = await fx.call("DELETE", `/v1/sandboxes/${next.id}`, { token: fx.tokens.p1 });
    expect(await json(d)).toMatchObject({ state: "destroyed", reason: "user" });
    // Destroy is idempotent: a second one answers the destroyed record.
    const again = await fx.call("DELETE", `/v1/sandboxes/${next.id}`, { token: fx.tokens.p1 });
    expect(await json(again)).toMatchObject({ id: next.id, state: "destroyed" });
  });

  it("wait=false answers 202 with the record still provisioning; it becomes ready", async () => {
    const r = await fx.call("POST", "/v1/sandboxes?wait=false", { token: fx.tokens.p1, body: { profile: "profile.local" } });
    expect(r.status).toBe(202);
    const early = await json<Sandbox>(r);
    expect(early.state).toBe("provisioning");
    let cur = early;
    for (let i = 0; i < 300 && cur.state === "provisioning"; i++) {
      await new Promise((res) => setTimeout(res, 50));
      cur = await json<Sandbox>(await fx.call("GET", `/v1/sandboxes/${early.id}`));
    }
    expect(cur.state).toBe("ready");
  });

  it("a failing create maps to its error code and HTTP status", async () => {
    const r = await fx.call("POST", "/v1/sandboxes", { body: { profile: "profile.nope" } });
    expect(r.status).toBe(400);
    expect((await errorOf(r)).code).toBe("SBX_PROFILE_NOT_FOUND");
  });
});

describe("idempotency", () => {
  it("the same key and body return the same sandbox; another body -> 409", async () => {
    const key = { "Idempotency-Key": "job-42" };
    const a = await create(fx.tokens.p1, { profile: "profile.local" }, key);
    const b = await create(fx.tokens.p1, { profile: "profile.local" }, key);
    expect(b.id).toBe(a.id);
    const c = await fx.call("POST", "/v1/sandboxes", { token: fx.tokens.p1, body: { profile: "profile.local", ttl: "2h" }, headers: key });
    expect(c.status).toBe(409);
    expect(await errorOf(c)).toMatchObject({ code: "SBX_IDEMPOTENCY_CONFLICT" });
    // Keys are per project: p2's "job-42" is its own sandbox.
    const d = await create(fx.tokens.p2, { profile: "profile.local" }, key);
    expect(d.id).not.toBe(a.id);
  });

  it("a malformed key is a 400 naming the header", async () => {
    const r = await fx.call("POST", "/v1/sandboxes", { body: {}, headers: { "Idempotency-Key": "has spaces" } });
    expect(r.status).toBe(400);
    expect((await errorOf(r)).message).toContain("Idempotency-Key");
  });
});

describe("bad requests -> 400 with a clear message", () => {
  it("malformed JSON", async () => {
    const r = await fx.call("POST", "/v1/sandboxes", { raw: "{profile:", headers: { "Content-Type": "application/json" } });
    expect(r.status).toBe(400);
    expect((await errorOf(r)).message).toMatch(/^body: not valid JSON/);
  });

  it("unknown fields", async () => {
    const r = await fx.call("POST", "/v1/sandboxes", { body: { profile: "profile.local", colour: "red" } });
    expect(r.status).toBe(400);
    expect(await errorOf(r)).toMatchObject({ code: "SBX_USAGE" });
    expect((await errorOf(await fx.call("POST", "/v1/sandboxes", { body: { colour: "red" } }))).message).toContain('"colour"');
  });

  it("wrong types and unknown query values name the field", async () => {
    const r = await fx.call("POST", "/v1/sandboxes", { body: { inputs: { repo: ["x"] } } });
    expect((await errorOf(r)).message).toContain("body.inputs.repo");
    const q = await fx.call("GET", "/v1/sandboxes?state=sleeping");
    expect(q.status).toBe(400);
    expect((await errorOf(q)).message).toContain("query.state");
    const l = await fx.call("GET", "/v1/events?format=json", { headers: { "Last-Event-ID": "x1" } });
    expect(l.status).toBe(400);
  });

  it("an oversize body", async () => {
    const r = await fx.call("POST", "/v1/sandboxes", { body: { profile: "profile.local", inputs: { repo: "x".repeat(70_000) } } });
    expect(r.status).toBe(400);
    expect((await errorOf(r)).message).toContain("larger than the limit");
  });
});

describe("events, catalog and operator routes", () => {
  it("events as JSON are filtered to the caller's project", async () => {
    const p2 = await json<{ items: { project: string | null }[] }>(await fx.call("GET", "/v1/events?format=json", { token: fx.tokens.p2 }));
    expect(p2.items.length).toBeGreaterThan(0);
    expect(new Set(p2.items.map((e) => e.project))).toEqual(new Set(["p2"]));
    const all = await json<{ items: unknown[]; lastSeq: number }>(await fx.call("GET", "/v1/events?format=json&limit=5000"));
    expect(all.items.length).toBeGreaterThan(p2.items.length);
  });

  it("hosts, profiles, extensions", async () => {
    const hosts = await json<{ name: string; ssh: unknown }[]>(await fx.call("GET", "/v1/hosts", { token: fx.tokens.p1 }));
    expect(hosts.map((h) => h.name)).toContain("localhost");
    const profiles = await json<{ profiles: { id: string }[] }>(await fx.call("GET", "/v1/profiles", { token: fx.tokens.p1 }));
    expect(profiles.profiles.map((p) => p.id)).toContain("profile.local");
    const exts = await json<{ id: string; capabilities: unknown }[]>(await fx.call("GET", "/v1/extensions", { token: fx.tokens.p1 }));
    expect(exts.map((e) => e.id)).toContain("ext.local");
  });

  it("reconcile (adm)", async () => {
    const r = await fx.call("POST", "/v1/reconcile");
    expect(r.status).toBe(200);
    expect(await json(r)).toHaveProperty("actions");
  });

  it("ttl, snapshots, restore, expire, credits answer through the broker", async () => {
    const sb = await create(fx.tokens.p1);
    const ttl = await fx.call("POST", `/v1/sandboxes/${sb.id}/ttl`, { token: fx.tokens.p1, body: { duration: "1h" } });
    expect(ttl.status, await ttl.clone().text()).toBe(200);
    expect(Date.parse((await json<Sandbox>(ttl)).expiresAt ?? "")).toBeGreaterThan(Date.parse(sb.expiresAt ?? ""));
    const snap = await fx.call("POST", `/v1/sandboxes/${sb.id}/snapshots`, { token: fx.tokens.p1, body: { name: "first" } });
    expect(snap.status, await snap.clone().text()).toBe(201);
    const snapBody = await json<{ id: string; path?: string }>(snap);
    const snapId = snapBody.id;
    expect(snapBody.path).toBeUndefined();
    expect((await json<{ path?: string }>(await fx.call("GET", `/v1/snapshots/${snapId}`))).path).toContain(snapId);
    expect((await fx.call("GET", `/v1/snapshots/${snapId}`, { token: fx.tokens.p2 })).status).toBe(404);
    expect((await fx.call("DELETE", `/v1/snapshots/${snapId}`, { token: fx.tokens.p2 })).status).toBe(404);
    const mine = await json<{ id: string }[]>(await fx.call("GET", "/v1/snapshots", { token: fx.tokens.p1 }));
    expect(mine.map((s) => s.id)).toContain(snapId);
    const theirs = await json<{ id: string }[]>(await fx.call("GET", "/v1/snapshots", { token: fx.tokens.p2 }));
    expect(theirs.map((s) => s.id)).not.toContain(snapId);
    expect((await fx.call("POST", `/v1/snapshots/${snapId}/restore`, { token: fx.tokens.p2 })).status).toBe(404);
    const restored = await fx.call("POST", `/v1/snapshots/${snapId}/restore`, { token: fx.tokens.p1 });
    expect(restored.status, await restored.clone().text()).toBe(201);
    expect((await json<Sandbox>(restored)).project).toBe("p1");
    const expire = await fx.call("POST", "/v1/expire", { body: { apply: false } });
    expect(await json(expire)).toMatchObject({ applied: false, expired: [] });
    expect((await fx.call("POST", "/v1/expire", { token: fx.tokens.p1, body: {} })).status).toBe(403);
    const credits = await fx.call("GET", "/v1/credits", { token: fx.tokens.p1 });
    expect(credits.status, await credits.clone().text()).toBe(200);
    expect((await json<{ accounts: { account: string }[] }>(credits)).accounts.map((a) => a.account)).toEqual(["p1"]);
    const deleted = await fx.call("DELETE", `/v1/snapshots/${snapId}`, { token: fx.tokens.p1 });
    expect(deleted.status).toBe(200);
  });
});

describe("credits and plan", () => {
  it("adm tops up; tenants read only their account and history", async () => {
    const add = await fx.call("POST", "/v1/credits", { body: { amount: 25, project: "p2", note: "grant" } });
    expect(add.status, await add.clone().text()).toBe(200);
    expect((await json<{ accounts: { account: string; balance: number }[] }>(add)).accounts[0]).toMatchObject({ account: "p2", balance: 25 });
    expect((await fx.call("POST", "/v1/credits", { token: fx.tokens.p2, body: { amount: 5 } })).status).toBe(403);
    expect((await fx.call("POST", "/v1/credits", { body: { amount: "lots" } })).status).toBe(400);
    const mine = await json<{ accounts: { account: string }[] }>(await fx.call("GET", "/v1/credits?project=p1", { token: fx.tokens.p2 }));
    expect(mine.accounts.map((a) => a.account)).toEqual(["p2"]);
    const hist = await json<{ account: string; kind: string }[]>(await fx.call("GET", "/v1/credits/history", { token: fx.tokens.p2 }));
    expect(hist.map((e) => e.kind)).toContain("add");
    expect(new Set(hist.map((e) => e.account))).toEqual(new Set(["p2"]));
    const all = await json<{ accounts: unknown[] }>(await fx.call("GET", "/v1/credits"));
    expect(all.accounts.length).toBeGreaterThanOrEqual(1);
  });

  it("plan explains a create without making one", async () => {
    const before = (await fx.broker.list({})).length;
    const r = await fx.call("POST", "/v1/plan", { token: fx.tokens.p1, body: { profile: "profile.local" } });
    expect(r.status, await r.clone().text()).toBe(200);
    expect(await json(r)).toMatchObject({ project: "p1", actor: "agt", route: { chosen: "ext.local" }, host: { name: "localhost" } });
    expect((await fx.broker.list({})).length).toBe(before);
    expect((await fx.call("POST", "/v1/plan", { body: { profile: "profile.nope" } })).status).toBe(400);
  });
});

describe("responses match the schemas the document and the client are typed from", () => {
  it("sandbox, list, events, hosts, profiles, health, credits", async () => {
    const sb = await create(fx.tokens.p1);
    const cases: [string, { safeParse(v: unknown): { success: boolean; error?: unknown } }][] = [
      [`/v1/sandboxes/${sb.id}`, S.SandboxRecord],
      ["/v1/sandboxes?all=true", S.SandboxList],
      ["/v1/events?format=json", S.EventList],
      ["/v1/hosts", S.HostList],
      ["/v1/profiles", S.ProfileList],
      ["/v1/credits", S.Credits],
      ["/healthz", S.Health],
    ];
    for (const [path, schema] of cases) {
      const body = await json(await fx.call("GET", path));
      const r = schema.safeParse(body);
      expect(r.success, `${path}: ${JSON.stringify(r.error)}`).toBe(true);
    }
    const bad = await json(await fx.call("GET", "/v1/sandboxes/sbx-aaaaaaaaaaaa"));
    expect(S.ErrorBody.safeParse(bad).success).toBe(true);
  });
});

describe("rate limit", () => {
  it("answers 429 with Retry-After once a token's burst is spent", async () => {
    const small = await apiFixture({ rateLimit: 1, rateBurst: 2 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await small.call("GET", "/v1/hosts")).status);
      expect(statuses).toEqual([200, 200, 429]);
      const r = await small.call("GET", "/v1/hosts");
      expect(r.headers.get("Retry-After")).toMatch(/^\d+$/);
      expect((await errorOf(r)).code).toBe("SBX_RATE_LIMITED");
      // Another token has its own bucket.
      expect((await small.call("GET", "/v1/hosts", { token: small.tokens.p1 })).status).toBe(200);
    } finally {
      await small.cleanup();
    }
  });
});
