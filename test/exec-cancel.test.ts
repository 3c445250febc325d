/**
 * A command whose client has gone away is stopped, not left running
 * (docs/security.md "Session limits"): a real API server on 127.0.0.1 over
 * local (bwrap) sandboxes; a client starts a command that records its pid
 * inside the sandbox, then walks away (a streamed exec, a collected exec, an
 * MCP tools/call through the official client, a remote broker as the CLI
 * uses with SANDBOXER_URL). The command's whole group is
 * killed inside the sandbox (a second exec finds no such process), its exec
 * slot is free again (the token reaches its cap again, and not past it), and
 * another client's command in the same sandbox runs on to its end.
 */
import { randomBytes } from "node:crypto";
import type { Client } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { remoteBroker } from "../src/client/remote-broker.js";
import { connectHttp } from "./helpers/mcp.js";
import { expectLimit, type LimitsEnv, limitsEnv, whenFree } from "./helpers/session-limits.js";

let env: LimitsEnv;
const clients: Client[] = [];

beforeAll(async () => {
  env = await limitsEnv({ execs: { perToken: 2, perProject: 4 } });
}, 120_000);

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await env?.close();
});

const PIPE = { stdin: "ignore", stdout: "pipe", stderr: "pipe" } as const;

/** A command that records its pid in /workspace/NAME, then loops on children of its own until killed. */
const looping = (name: string) => ["sh", "-c", `echo $$ > /workspace/${name}; while :; do sleep 0.2; done`];

/** The pid the command recorded, once it has started. */
async function pidOf(id: string, name: string): Promise<string> {
  return vi.waitFor(
    async () => {
      const r = await env.broker.exec(id, ["cat", `/workspace/${name}`], PIPE);
      const pid = r.stdout?.trim();
      if (r.exitCode !== 0 || !pid) throw new Error(`${name} has not started yet`);
      return pid;
    },
    { timeout: 60_000, interval: 100 },
  );
}

const running = async (id: string, pid: string) => (await env.broker.exec(id, ["sh", "-c", 'kill -0 "$1" 2>/dev/null', "sh", pid], PIPE)).exitCode === 0;

/** Until the process is gone inside the sandbox (the kill and the reaping take a moment). */
async function gone(id: string, pid: string): Promise<void> {
  await vi.waitFor(async () => expect(await running(id, pid)).toBe(false), { timeout: 30_000, interval: 100 });
}

/** POST /exec that the client can walk away from. */
function execCall(id: string, token: string, command: string[], stream: boolean) {
  const abort = new AbortController();
  const res = fetch(`${env.server.url}/v1/sandboxes/${id}/exec`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify({ command, stream }),
    signal: abort.signal,
  }).then(async (r) => ({ status: r.status, text: await r.text() }));
  return { res, leave: () => abort.abort() };
}

/** The token's cap (2) is reachable again, and not passed: both slots the walked-away calls held are free. */
async function capReachedAgain(id: string): Promise<void> {
  const tag = randomBytes(3).toString("hex");
  const fill = [execCall(id, env.tokens.p1a, looping(`f1-${tag}`), true), execCall(id, env.tokens.p1a, looping(`f2-${tag}`), true)];
  const pids = [await pidOf(id, `f1-${tag}`), await pidOf(id, `f2-${tag}`)];
  expectLimit(await env.call("POST", `/v1/sandboxes/${id}/exec`, env.tokens.p1a, { command: ["true"] }), "perToken", 2);
  for (const f of fill) f.leave();
  await Promise.all(fill.map((f) => f.res.catch(() => {})));
  for (const pid of pids) await gone(id, pid);
  expect((await whenFree(() => env.call("POST", `/v1/sandboxes/${id}/exec`, env.tokens.p1a, { command: ["true"] }))).status).toBe(200);
}

describe("a client that walks away stops its command", { timeout: 240_000 }, () => {
  it("streamed and collected execs: the group is killed inside the sandbox, the slots come back, another client's command runs on", async () => {
    const p1 = env.sb.p1.id;
    // Another client of the same project, in the same sandbox: its command must not be touched.
    const other = env.call("POST", `/v1/sandboxes/${p1}/exec`, env.tokens.p1b, { command: env.waiter("keep") });
    const streamed = execCall(p1, env.tokens.p1a, looping("s1"), true);
    const collected = execCall(p1, env.tokens.p1a, looping("c1"), false);
    const [s1, c1] = [await pidOf(p1, "s1"), await pidOf(p1, "c1")];
    // Both slots held while the commands run.
    expectLimit(await env.call("POST", `/v1/sandboxes/${p1}/exec`, env.tokens.p1a, { command: ["true"] }), "perToken", 2);

    streamed.leave();
    await streamed.res.catch(() => {});
    await gone(p1, s1);
    expect(await running(p1, c1)).toBe(true);
    collected.leave();
    await collected.res.catch(() => {});
    await gone(p1, c1);

    await capReachedAgain(p1);
    await env.release(p1, "keep");
    expect((await other).body).toMatchObject({ exitCode: 0, stdout: "done-keep\n" });
    // Every exec ran as a group with a pid file: stopped or ended, none is left behind.
    const left = await env.broker.exec(p1, ["sh", "-c", "ls -A /tmp/.sandboxer 2>/dev/null | grep '^exec-' || true"], PIPE);
    expect(left.stdout).toBe("");
  });

  it("a remote broker (the CLI and `sandboxer mcp` with SANDBOXER_URL) whose caller aborts hangs up, and the server stops the command", async () => {
    const p1 = env.sb.p1.id;
    const remote = remoteBroker({ SANDBOXER_URL: env.server.url, SANDBOXER_TOKEN: env.tokens.p1a });
    const cancel = new AbortController();
    const call = remote.exec(p1, looping("r1"), PIPE, { signal: cancel.signal });
    const pid = await pidOf(p1, "r1");
    cancel.abort();
    await expect(call).rejects.toMatchObject({ code: "SBX_CANCELLED" });
    await gone(p1, pid);
  });

  it.each([
    ["2026-07-28 (the client aborts the call's own stream)", true, "m1"],
    ["2025 (the client posts notifications/cancelled)", false, "m2"],
  ])("MCP %s: a client cancelling its exec_command call stops the command and frees the slot", async (_era, modern, name) => {
    const p1 = env.sb.p1.id;
    const c = await connectHttp(env.server.url, env.tokens.p1a, { modern });
    clients.push(c);
    const cancel = new AbortController();
    const call = c.callTool({ name: "exec_command", arguments: { id: p1, argv: looping(name) } }, { signal: cancel.signal });
    const pid = await pidOf(p1, name);
    cancel.abort();
    await expect(call).rejects.toThrow();
    await gone(p1, pid);
    await capReachedAgain(p1);
  });

  it("MCP: a raw client that hangs up stops its call; a cancellation by another token, or naming a call two clients share an id with, stops nothing", async () => {
    const p1 = env.sb.p1.id;
    const rpc = (token: string, message: Record<string, unknown>, signal?: AbortSignal) =>
      fetch(`${env.server.url}/mcp`, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", Accept: "application/json, text/event-stream" },
        body: JSON.stringify({ jsonrpc: "2.0", ...message }),
        ...(signal ? { signal } : {}),
      }).then(async (r) => ({ status: r.status, text: await r.text() }));
    const call = (token: string, id: number, name: string, signal?: AbortSignal) =>
      rpc(token, { id, method: "tools/call", params: { name: "exec_command", arguments: { id: p1, argv: looping(name) } } }, signal);
    const cancel = (token: string, requestId: number) => rpc(token, { method: "notifications/cancelled", params: { requestId, reason: "test" } });

    // Hanging up the call's own POST stops it.
    const hangUp = new AbortController();
    const dropped = call(env.tokens.p1a, 1, "h1", hangUp.signal).catch(() => ({ status: 0, text: "" }));
    const h1 = await pidOf(p1, "h1");
    hangUp.abort();
    await dropped;
    await gone(p1, h1);

    // Another project's token, and the same project's other token, name the call's id: nothing stops.
    const mine = call(env.tokens.p1a, 7, "x1");
    const x1 = await pidOf(p1, "x1");
    expect((await cancel(env.tokens.p2, 7)).status).toBeLessThan(300);
    expect((await cancel(env.tokens.p1b, 7)).status).toBeLessThan(300);
    // A second call of the same token with the same id: the cancellation is ambiguous, so it stops neither.
    const twin = call(env.tokens.p1a, 7, "x2");
    const x2 = await pidOf(p1, "x2");
    expect((await cancel(env.tokens.p1a, 7)).status).toBeLessThan(300);
    // Each call's own exec (what a stop would need) answers after the cancellations: both still run.
    expect([await running(p1, x1), await running(p1, x2)]).toEqual([true, true]);
    // Once one has ended, the id names one call: its own token's cancellation stops it.
    expect((await env.broker.exec(p1, ["sh", "-c", 'kill -s KILL "$1"', "sh", x2], PIPE)).exitCode).toBe(0);
    expect((await twin).status).toBe(200);
    expect((await cancel(env.tokens.p1a, 7)).status).toBeLessThan(300);
    await gone(p1, x1);
    expect((await mine).status).toBe(200);
  });
});
