/**
 * Background processes a tenant leaves running (docs/security.md "Session
 * limits"): each keeps a supervisor process on the server for its life. A
 * token starts real ones (bwrap sandbox, the API on 127.0.0.1, and /mcp's
 * start_process, which share its count) up to its limit, and the next is
 * refused with SBX_SESSION_LIMIT with nothing started; the project's limit
 * holds across tokens; another project and the operator are still served.
 * A process that exits, is killed, or loses its sandbox gives its slot back.
 * The per-sandbox limit holds for every caller, operators and the local CLI too.
 */
import type { Client } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failure } from "./helpers/assert.js";
import { callErr, callOk, connectHttp } from "./helpers/mcp.js";
import { expectLimit, type LimitsEnv, limitsEnv, whenFree } from "./helpers/session-limits.js";

let env: LimitsEnv;
const clients: Client[] = [];

beforeAll(async () => {
  env = await limitsEnv({ processes: { perToken: 2, perProject: 3, perSandbox: 3 } });
}, 120_000);

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await env?.close();
});

const start = (id: string, token: string, command: string[]) => env.call("POST", `/v1/sandboxes/${id}/processes`, token, { command });
const count = async (id: string) => (await env.broker.listProcesses(id)).length;
const running = async (id: string) => (await env.broker.listProcesses(id)).filter((p) => p.state === "running").length;

/** Wait until the sandbox runs exactly `n` background processes. */
async function runningBecomes(id: string, n: number): Promise<void> {
  for (let i = 0; i < 600 && (await running(id)) !== n; i++) await new Promise((r) => setTimeout(r, 50));
  expect(await running(id)).toBe(n);
}

describe("background process limits", { timeout: 240_000 }, () => {
  it("per token (API and MCP together) and per project: refused with nothing started; others still served", async () => {
    const p1 = env.sb.p1.id;
    expect((await start(p1, env.tokens.p1a, env.waiter("a1"))).status).toBe(201);
    const mcp = await connectHttp(env.server.url, env.tokens.p1a);
    clients.push(mcp);
    const viaMcp = await callOk<{ pid: string }>(mcp, "start_process", { id: p1, argv: env.waiter("a2") });
    expect(viaMcp.pid).toMatch(/^proc-/);
    const before = await count(p1);
    const refused = await start(p1, env.tokens.p1a, ["touch", "/workspace/refused"]);
    expect(expectLimit(refused, "sessionLimits.processes.perToken", 2)).toContain("this token");
    const refusedMcp = await callErr(mcp, "start_process", { id: p1, argv: ["touch", "/workspace/refused"] });
    expect(refusedMcp.code).toBe("SBX_SESSION_LIMIT");
    expect(refusedMcp.text).toContain("sessionLimits.processes.perToken");

    expect((await start(p1, env.tokens.p1b, env.waiter("b1"))).status).toBe(201);
    const byProject = await start(env.sb.p1b.id, env.tokens.p1c, ["touch", "/workspace/refused"]);
    expect(expectLimit(byProject, "sessionLimits.processes.perProject", 3)).toContain("project 'p1'");
    // Nothing was started for the refusals: no process record, and their command never ran.
    expect(await count(p1)).toBe(before + 1);
    expect(await count(env.sb.p1b.id)).toBe(0);
    const ran = await env.broker.exec(p1, ["test", "-e", "/workspace/refused"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    expect(ran.exitCode).toBe(1);

    expect((await start(env.sb.p2.id, env.tokens.p2, env.waiter("p2"))).status).toBe(201);
    expect((await env.call("GET", "/v1/sandboxes", env.tokens.adm)).status).toBe(200);
    expect((await env.call("GET", `/v1/sandboxes/${p1}/processes`, env.tokens.p1a)).status).toBe(200);
  });

  it("gives slots back when a process exits, is killed or loses its sandbox; the cap is reached again and not passed", async () => {
    const p1 = env.sb.p1.id;
    // p1a holds a1 (API) and a2 (MCP): one exits, the other is killed.
    await env.release(p1, "a1");
    const list = await env.broker.listProcesses(p1);
    const a2 = list.find((p) => p.argv.join(" ").includes("go-a2"));
    expect((await env.call("POST", `/v1/sandboxes/${p1}/processes/${a2?.pid}/kill`, env.tokens.p1a, {})).status).toBe(200);
    // The places come back: this token may run exactly two again, one of them in a sandbox about to go.
    const c1 = await whenFree(() => start(p1, env.tokens.p1a, env.waiter("c1")));
    const c2 = await whenFree(() => start(env.sb.p1b.id, env.tokens.p1a, env.waiter("c2")));
    expect([c1.status, c2.status]).toEqual([201, 201]);
    expectLimit(await start(p1, env.tokens.p1a, ["true"]), "perToken", 2);
    await env.broker.destroy(env.sb.p1b.id);
    const c3 = await start(p1, env.tokens.p1a, env.waiter("c3"));
    expect(c3.status).toBe(201);
    expectLimit(await start(p1, env.tokens.p1a, ["true"]), "perToken", 2);
    for (const n of ["b1", "c1", "c3"]) await env.release(p1, n);
    await runningBecomes(p1, 0);
  });

  it("per sandbox, for every caller: operators through the API, and the local broker", async () => {
    const p2 = env.sb.p2.id;
    // p2 runs one already (the first test); two operators' tokens fill it to three.
    expect((await start(p2, env.tokens.adm, env.waiter("o1"))).status).toBe(201);
    expect((await start(p2, env.tokens.adm2, env.waiter("o2"))).status).toBe(201);
    const refused = await start(p2, env.tokens.adm2, ["true"]);
    expect(refused.status).toBe(429);
    expect(refused.body.error?.message).toContain("sessionLimits.processes.perSandbox = 3");
    expect(refused.body.error?.message).toContain("runs 3 background processes");
    const local = await failure(env.broker.startProcess(p2, ["true"]));
    expect(local.code).toBe("SBX_SESSION_LIMIT");
    expect(await count(p2)).toBe(3);
    await env.release(p2, "o1");
    await runningBecomes(p2, 2);
    expect((await start(p2, env.tokens.adm2, env.waiter("o3"))).status).toBe(201);
    for (const n of ["p2", "o2", "o3"]) await env.release(p2, n);
  });
});
