/**
 * Live event streams (GET /v1/events as Server-Sent Events) a tenant holds
 * open: each reads the store until it ends. A token opens real streams on the
 * API on 127.0.0.1 up to its limit and the next is refused with
 * SBX_SESSION_LIMIT; the project's limit holds across tokens; another project
 * and the operator are still served; one JSON page holds nothing; a stream the
 * client closes gives its slot back.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectLimit, type LimitsEnv, limitsEnv, type Reply, whenFree } from "./helpers/session-limits.js";

let env: LimitsEnv;
const open: AbortController[] = [];

beforeAll(async () => {
  env = await limitsEnv({ eventStreams: { perToken: 2, perProject: 3 } });
}, 120_000);

afterAll(async () => {
  for (const a of open) a.abort();
  await env?.close();
});

/** Open a live stream: 200 once its headers came (the stream stays open), or the refusal. */
async function follow(token: string): Promise<Reply & { abort: AbortController }> {
  const abort = new AbortController();
  const res = await fetch(`${env.server.url}/v1/events`, { headers: { Authorization: `Bearer ${token}`, Accept: "text/event-stream" }, signal: abort.signal });
  if (res.status !== 200) return { status: res.status, body: JSON.parse(await res.text()), abort };
  open.push(abort);
  // Read it as a client does, so the server's writes never back up.
  void res.body?.pipeTo(new WritableStream()).catch(() => {});
  return { status: 200, body: {}, abort };
}

describe("event stream limits per token and project", { timeout: 120_000 }, () => {
  it("refuses the stream past the token's and the project's limit, keeps others served, and frees a closed one", async () => {
    const a1 = await follow(env.tokens.p1a);
    const a2 = await follow(env.tokens.p1a);
    expect([a1.status, a2.status]).toEqual([200, 200]);
    expect(expectLimit(await follow(env.tokens.p1a), "sessionLimits.eventStreams.perToken", 2)).toContain("this token");
    // One JSON page is not a stream: it holds nothing and still answers.
    expect((await env.call("GET", "/v1/events?format=json", env.tokens.p1a)).status).toBe(200);
    expect((await follow(env.tokens.p1b)).status).toBe(200);
    expect(expectLimit(await follow(env.tokens.p1c), "sessionLimits.eventStreams.perProject", 3)).toContain("project 'p1'");
    expect((await follow(env.tokens.p2)).status).toBe(200);
    expect((await env.call("GET", "/v1/sandboxes", env.tokens.adm)).status).toBe(200);
    // The client closes one: exactly one place comes back.
    a1.abort.abort();
    expect((await whenFree(() => follow(env.tokens.p1a))).status).toBe(200);
    expectLimit(await follow(env.tokens.p1a), "perToken", 2);
  });
});
