/**
 * MCP exchanges a tenant holds open on /mcp (docs/security.md "Session
 * limits"): the HTTP endpoint keeps no sessions, but every exchange in
 * progress (a tool call such as exec_command, a listen stream) holds a server
 * instance, its stream and what the call started. A token's real MCP client
 * (the official SDK) runs tool calls up to its limit and the next exchange is
 * refused with a 429 SBX_SESSION_LIMIT before the server sees it; the project's
 * limit holds across tokens; another project and the operator are still
 * served. A call holds its slot until it ends; a client that leaves ends its
 * exec_command (test/exec-cancel.test.ts), and the slot comes back then.
 */
import type { Client } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callOk, connectHttp } from "./helpers/mcp.js";
import { type LimitsEnv, limitsEnv, whenFree } from "./helpers/session-limits.js";

let env: LimitsEnv;
const clients: Client[] = [];

beforeAll(async () => {
  env = await limitsEnv({ mcp: { perToken: 2, perProject: 3 } });
}, 120_000);

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await env?.close();
});

const client = async (token: string) => {
  const c = await connectHttp(env.server.url, token);
  clients.push(c);
  return c;
};

const exists = async (id: string, path: string) =>
  (await env.broker.exec(id, ["test", "-e", path], { stdin: "ignore", stdout: "pipe", stderr: "pipe" })).exitCode === 0;

async function started(id: string, name: string): Promise<void> {
  for (let i = 0; i < 600 && !(await exists(id, `/workspace/started-${name}`)); i++) await new Promise((r) => setTimeout(r, 50));
  expect(await exists(id, `/workspace/started-${name}`)).toBe(true);
}

/** exec_command through the SDK client, asked again while the server refuses it for the session limit. */
async function callWhenFree(c: Client, args: Record<string, unknown>): Promise<unknown> {
  const until = Date.now() + 60_000;
  for (;;) {
    try {
      return await callOk(c, "exec_command", args);
    } catch (err) {
      if (!/SBX_SESSION_LIMIT/.test(String(err)) || Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const held = (name: string) => `touch /workspace/started-${name}; while [ ! -e /workspace/go-${name} ]; do sleep 0.1; done; echo done-${name}`;

/** One raw exchange on /mcp (tools/list, or a tools/call), as any client's POST: its status and body. */
async function exchange(
  token: string,
  call?: { name: string; arguments: Record<string, unknown> },
  signal?: AbortSignal,
): Promise<{ status: number; body: { error?: { code: string; message: string } } & Record<string, unknown> }> {
  const res = await fetch(`${env.server.url}/mcp`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", Accept: "application/json, text/event-stream" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: call ? "tools/call" : "tools/list", params: call ?? {} }),
    ...(signal ? { signal } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: res.headers.get("content-type")?.includes("json") ? JSON.parse(text) : { text } };
}

describe("MCP exchange limits per token and project", { timeout: 240_000 }, () => {
  it("refuses the exchange past the token's and the project's limit before the server sees it; others still served", async () => {
    const p1 = env.sb.p1.id;
    const a = await client(env.tokens.p1a);
    const b = await client(env.tokens.p1b);
    // Two calls in progress fill the token's limit (the client's own connection holds nothing between calls).
    const one = callOk<{ stdout: string }>(a, "exec_command", { id: p1, command: held("a1") });
    const two = callOk<{ stdout: string }>(a, "exec_command", { id: p1, command: held("a2") });
    await started(p1, "a1");
    await started(p1, "a2");
    const refused = await exchange(env.tokens.p1a);
    expect(refused.status).toBe(429);
    expect(refused.body.error?.code).toBe("SBX_SESSION_LIMIT");
    expect(refused.body.error?.message).toContain("sessionLimits.mcp.perToken = 2");
    expect(refused.body.error?.message).toContain("holds 2 MCP exchanges in progress");
    // The SDK client sees the refusal as an error naming the code, and its call ran nothing.
    await expect(a.callTool({ name: "exec_command", arguments: { id: p1, command: "touch /workspace/refused-a" } })).rejects.toThrow(/SBX_SESSION_LIMIT|429/);
    expect(await exists(p1, "/workspace/refused-a")).toBe(false);

    const three = callOk<{ stdout: string }>(b, "exec_command", { id: p1, command: held("b1") });
    await started(p1, "b1");
    const byProject = await exchange(env.tokens.p1c);
    expect(byProject.status).toBe(429);
    expect(byProject.body.error?.message).toContain("project 'p1'");
    expect(byProject.body.error?.message).toContain("sessionLimits.mcp.perProject = 3");

    // Another project's agent and the operator are served.
    const other = await client(env.tokens.p2);
    expect((await callOk<{ stdout: string }>(other, "exec_command", { id: env.sb.p2.id, command: "echo mine" })).stdout).toBe("mine\n");
    expect((await env.call("GET", "/v1/sandboxes", env.tokens.adm)).status).toBe(200);
    expect((await exchange(env.tokens.adm)).status).toBe(200);

    for (const n of ["a1", "a2", "b1"]) await env.release(p1, n);
    expect((await one).stdout).toBe("done-a1\n");
    expect((await two).stdout).toBe("done-a2\n");
    expect((await three).stdout).toBe("done-b1\n");
    expect((await whenFree(() => exchange(env.tokens.p1a))).status).toBe(200);
  });

  it("a call whose client went away is stopped and gives its slot back; a destroyed sandbox ends one; the cap is reached again", async () => {
    const p1 = env.sb.p1.id;
    const p1b = env.sb.p1b.id;
    const a = await client(env.tokens.p1a);
    // A client that sends a call and hangs up (the SDK's own abort waits for its request timeout first).
    const gone = new AbortController();
    const left = exchange(env.tokens.p1a, { name: "exec_command", arguments: { id: p1, command: held("l1") } }, gone.signal);
    const doomed = exchange(env.tokens.p1a, { name: "exec_command", arguments: { id: p1b, command: held("d1") } });
    await started(p1, "l1");
    await started(p1b, "d1");
    // Both slots held while both calls run.
    expect((await exchange(env.tokens.p1a)).status).toBe(429);
    gone.abort();
    await left.catch(() => {});
    // The call's command is stopped, so its exchange's slot comes back once it has.
    expect((await whenFree(() => exchange(env.tokens.p1a))).status).toBe(200);
    await env.broker.destroy(p1b);
    await doomed;
    // Exactly two again (each asked until its place is free: a slot comes back just after its command ends).
    const r1 = callWhenFree(a, { id: p1, command: held("r1") });
    await started(p1, "r1");
    const r2 = callWhenFree(a, { id: p1, command: held("r2") });
    await started(p1, "r2");
    const again = [r1, r2];
    expect((await exchange(env.tokens.p1a)).status).toBe(429);
    await env.release(p1, "r1");
    await env.release(p1, "r2");
    await Promise.all(again);
    expect((await whenFree(() => exchange(env.tokens.p1a))).status).toBe(200);
  });
});
