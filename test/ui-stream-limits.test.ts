/**
 * The dashboard's live streams (GET /ui/stream) are capped as GET /v1/events
 * is: each holds an `eventStreams` slot of its session's token and project,
 * counted with the API's streams of that token on the same replica. A real
 * server on 127.0.0.1 (sessionLimits in its config), sign-in over HTTP
 * through the form: a tenant's session opens streams up to the cap and the
 * next is 429 SBX_SESSION_LIMIT (a JSON error, as the API's) while its pages
 * still render; a second session of the same token does not get a second
 * allowance; API and dashboard streams share the count both ways; the
 * project's limit holds across tokens; another project and operators are
 * still served; streams refused for bad input or another project's sandbox
 * hold nothing; a closed stream, a sign-out, a server shutdown and a
 * failing stream give their slots back.
 */
import { createAdaptorServer } from "@hono/node-server";
import { writeFileSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { type CreatedApp, createApp } from "../src/api/app.js";
import type { Broker } from "../src/broker.js";
import { makeHome, type TestHome } from "./helpers/home.js";
import { expectLimit, type LimitsEnv, limitsEnv, whenFree } from "./helpers/session-limits.js";
import { apiStream, type Held, type HttpSession, signInHttp, uiStream } from "./helpers/ui-streams.js";

const held: Held[] = [];
const keep = async (h: Promise<Held>): Promise<Held> => {
  const r = await h;
  held.push(r);
  return r;
};

describe("dashboard streams under sessionLimits.eventStreams", { timeout: 180_000 }, () => {
  let env: LimitsEnv;
  let url: string;
  const ui = (s: HttpSession, q: string) => keep(uiStream(url, s, q));
  const api = (token: string) => keep(apiStream(url, token));

  beforeAll(async () => {
    env = await limitsEnv({ eventStreams: { perToken: 2, perProject: 3 } });
    url = env.server.url;
  }, 120_000);

  afterAll(async () => {
    for (const h of held) h.close();
    await env?.close();
  });

  it("counts them with the token's API streams, refuses past the token's and the project's limit, keeps the pages and others served", async () => {
    const a = await signInHttp(url, env.tokens.p1a);
    const table = await ui(a, "table");
    expect(table.status).toBe(200);
    expect(table.type).toContain("text/event-stream");
    const events = await api(env.tokens.p1a);
    expect(events.status).toBe(200);

    // Token p1a holds one dashboard and one API stream: the next of either kind is refused.
    const refused = await ui(a, "events");
    expect(refused.type).toContain("application/json");
    expect(expectLimit(refused, "sessionLimits.eventStreams.perToken", 2)).toContain("this token");
    expectLimit(await api(env.tokens.p1a), "sessionLimits.eventStreams.perToken", 2);
    // Signing in again with the same token gives no second allowance.
    const a2 = await signInHttp(url, env.tokens.p1a);
    expectLimit(await ui(a2, `sandbox&sandbox=${env.sb.p1.id}`), "perToken", 2);

    // The pages still render (they only lose their live updates), and name the stream they would follow.
    const page = await a.get("/ui/sandboxes");
    expect(page.status).toBe(200);
    const body = await page.text();
    expect(body).toContain(env.sb.p1.id);
    expect(body).toContain('data-stream="/ui/stream?');
    expect((await a.get(`/ui/sandboxes/${env.sb.p1.id}`)).status).toBe(200);
    expect((await a.get("/ui/events")).status).toBe(200);

    // A refusal for bad input or for another project's sandbox comes first and holds nothing.
    const other = await signInHttp(url, env.tokens.p2);
    expect((await ui(other, "nope")).status).toBe(400);
    for (let i = 0; i < 3; i++) {
      const r = await ui(other, `sandbox&sandbox=${env.sb.p1.id}`);
      expect(r.status).toBe(404);
      expect(JSON.stringify(r.body)).not.toContain("p1");
    }
    // Another project streams: its own two, then its own limit.
    expect((await ui(other, `sandbox&sandbox=${env.sb.p2.id}`)).status).toBe(200);
    expect((await ui(other, "events")).status).toBe(200);
    expectLimit(await ui(other, "table"), "perToken", 2);

    // Project p1: a third stream from another token fills it; a fourth token's, dashboard or API, is refused.
    const b = await signInHttp(url, env.tokens.p1b);
    const bStream = await ui(b, `sandbox&sandbox=${env.sb.p1b.id}`);
    expect(bStream.status).toBe(200);
    const c = await signInHttp(url, env.tokens.p1c);
    expect(expectLimit(await ui(c, "table"), "sessionLimits.eventStreams.perProject", 3)).toContain("project 'p1'");
    expectLimit(await api(env.tokens.p1c), "perProject", 3);
    expect((await c.get("/ui/sandboxes")).status).toBe(200);

    // Operators: their pages work; each operator token has the per-token limit, no project's.
    const adm = await signInHttp(url, env.tokens.adm);
    expect((await ui(adm, "pools")).status).toBe(200);
    expect((await ui(adm, "table")).status).toBe(200);
    expectLimit(await ui(adm, "events"), "perToken", 2);
    for (const path of ["/ui/sandboxes", "/ui/pools", "/ui/hosts", "/ui/events", `/ui/sandboxes/${env.sb.p2.id}`])
      expect((await adm.get(path)).status, path).toBe(200);
    const adm2 = await signInHttp(url, env.tokens.adm2);
    expect((await ui(adm2, "events")).status).toBe(200);

    // A closed tab gives its slot back: a stream of the other kind takes it, and the limit holds again.
    table.close();
    expect((await whenFree(() => api(env.tokens.p1a))).status).toBe(200);
    expectLimit(await ui(a, "table"), "perToken", 2);
    // A closed API stream gives its slot back to the dashboard.
    events.close();
    expect((await whenFree(() => ui(a2, "events"))).status).toBe(200);
    expectLimit(await ui(a, "table"), "perToken", 2);

    // Signing out ends the session's streams (at its next session check) and frees their slots for the project.
    expect((await b.post("/ui/logout", {})).status).toBe(303);
    await bStream.ended;
    expect((await whenFree(() => ui(c, "table"))).status).toBe(200);
    expectLimit(await ui(c, "events"), "perProject", 3);
  });
});

describe("streams the server ends", { timeout: 120_000 }, () => {
  let home: TestHome;
  let broker: Broker;
  let created: CreatedApp;
  let server: Server;
  let url: string;
  let tokens: { adm: string; p1: string };

  /** A fresh store and app on 127.0.0.1 per test: each ends its server's streams in its own way. */
  beforeEach(async () => {
    home = makeHome();
    writeFileSync(home.env.SANDBOXER_CONFIG as string, stringify({ sessionLimits: { eventStreams: { perToken: 2, perProject: 3 } } }));
    broker = home.broker();
    tokens = { adm: (await broker.createToken({ actor: "adm" })).token, p1: (await broker.createToken({ actor: "agt", project: "p1" })).token };
    created = createApp(broker, { accessLog: () => {}, rateLimit: 0 });
    server = createAdaptorServer({ fetch: created.app.fetch, hostname: "127.0.0.1" }) as Server;
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 60_000);

  afterEach(async () => {
    for (const h of held) h.close();
    await created?.shutdown();
    server?.closeAllConnections();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    await home?.cleanup();
  });

  /** Two streams of p1 (its token's limit) and one of an operator, all counted. */
  async function fill(): Promise<Held[]> {
    const p1 = await signInHttp(url, tokens.p1);
    const adm = await signInHttp(url, tokens.adm);
    const streams = [await keep(uiStream(url, p1, "table")), await keep(uiStream(url, p1, "events")), await keep(uiStream(url, adm, "pools"))];
    expect(streams.map((s) => s.status)).toEqual([200, 200, 200]);
    expectLimit(await keep(uiStream(url, p1, "table")), "perToken", 2);
    const counts = created.state.caps.snapshot();
    expect(
      Object.entries(counts)
        .filter(([k]) => k.startsWith("eventStreams|t:"))
        .map(([, n]) => n)
        .sort(),
    ).toEqual([1, 2]);
    expect(counts["eventStreams|p:p1"]).toBe(2);
    return streams;
  }

  it("a shutdown ends every dashboard stream and gives every slot back", async () => {
    const streams = await fill();
    await created.shutdown();
    // The server ends the bodies (the clients did not hang up), and nothing is counted any more.
    await Promise.all(streams.map((s) => s.ended));
    expect(created.state.caps.snapshot()).toEqual({});
  });

  it("a stream that fails (its store gone) ends and gives its slot back", async () => {
    const streams = await fill();
    await broker.close();
    await Promise.all(streams.map((s) => s.ended));
    expect(created.state.caps.snapshot()).toEqual({});
  });
});
