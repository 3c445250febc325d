/**
 * Execs held open by a tenant (docs/security.md "Session limits"): each
 * POST /v1/sandboxes/{id}/exec, collected or streamed, keeps a command and its
 * pipes on the server until the command ends. A token runs real commands (bwrap
 * sandbox, the API on 127.0.0.1) up to its limit and the next is refused with
 * SBX_SESSION_LIMIT before it starts; the project's limit holds across tokens;
 * another project and the operator are still served. A client that walks away
 * from a stream stops its command, which gives its slot back (test/exec-cancel.test.ts
 * shows the command is gone); a timeout and a destroyed sandbox give slots back too.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectLimit, type LimitsEnv, limitsEnv, whenFree } from "./helpers/session-limits.js";

let env: LimitsEnv;

beforeAll(async () => {
  env = await limitsEnv({ execs: { perToken: 2, perProject: 3 } });
}, 120_000);

afterAll(async () => {
  await env?.close();
});

const exists = async (id: string, path: string) =>
  (await env.broker.exec(id, ["test", "-e", path], { stdin: "ignore", stdout: "pipe", stderr: "pipe" })).exitCode === 0;

/** Wait until the file exists in the sandbox (the command started). */
async function started(id: string, path: string): Promise<void> {
  for (let i = 0; i < 600 && !(await exists(id, path)); i++) await new Promise((r) => setTimeout(r, 50));
  expect(await exists(id, path)).toBe(true);
}

/** A command that says it started, then waits for its go file. */
const held = (name: string) => ["sh", "-c", `touch /workspace/started-${name}; while [ ! -e /workspace/go-${name} ]; do sleep 0.1; done; echo done-${name}`];

/** A streamed exec: the response (headers received), and a way to walk away from it. */
async function stream(id: string, token: string, command: string[]) {
  const abort = new AbortController();
  const res = await fetch(`${env.server.url}/v1/sandboxes/${id}/exec`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify({ command, stream: true }),
    signal: abort.signal,
  });
  return { res, abort, text: () => res.text() };
}

describe("exec limits per token and project", { timeout: 240_000 }, () => {
  it("refuses the exec past the token's and the project's limit before it starts, and keeps others served", async () => {
    const p1 = env.sb.p1.id;
    const one = env.call("POST", `/v1/sandboxes/${p1}/exec`, env.tokens.p1a, { command: held("a1") });
    const two = await stream(p1, env.tokens.p1a, held("a2"));
    expect(two.res.status).toBe(200);
    await started(p1, "/workspace/started-a1");
    await started(p1, "/workspace/started-a2");

    const refused = await env.call("POST", `/v1/sandboxes/${p1}/exec`, env.tokens.p1a, { command: ["touch", "/workspace/refused-token"] });
    expect(expectLimit(refused, "sessionLimits.execs.perToken", 2)).toContain("this token");
    const refusedStream = await env.call("POST", `/v1/sandboxes/${p1}/exec`, env.tokens.p1a, { command: ["touch", "/workspace/refused-stream"], stream: true });
    expectLimit(refusedStream, "sessionLimits.execs.perToken", 2);

    const three = env.call("POST", `/v1/sandboxes/${p1}/exec`, env.tokens.p1b, { command: held("b1") });
    await started(p1, "/workspace/started-b1");
    const byProject = await env.call("POST", `/v1/sandboxes/${p1}/exec`, env.tokens.p1c, { command: ["touch", "/workspace/refused-project"] });
    expect(expectLimit(byProject, "sessionLimits.execs.perProject", 3)).toContain("project 'p1'");
    for (const f of ["refused-token", "refused-stream", "refused-project"]) expect(await exists(p1, `/workspace/${f}`)).toBe(false);

    // Another project runs its command; the operator's reads answer.
    const other = await env.call("POST", `/v1/sandboxes/${env.sb.p2.id}/exec`, env.tokens.p2, { command: ["echo", "mine"] });
    expect(other.status).toBe(200);
    expect(other.body.stdout).toBe("mine\n");
    expect((await env.call("GET", "/v1/sandboxes", env.tokens.adm)).status).toBe(200);

    // The client walks away from the stream: its command is stopped, and its slot comes back once it has.
    two.abort.abort();
    await two.text().catch(() => {});
    expect((await whenFree(() => env.call("POST", `/v1/sandboxes/${p1}/exec`, env.tokens.p1a, { command: ["true"] }))).status).toBe(200);
    for (const n of ["a1", "a2", "b1"]) await env.release(p1, n);
    expect((await one).body.stdout).toBe("done-a1\n");
    expect((await three).body.stdout).toBe("done-b1\n");
    expect((await whenFree(() => env.call("POST", `/v1/sandboxes/${p1}/exec`, env.tokens.p1a, { command: ["true"] }))).status).toBe(200);
  });

  it("gives slots back on a timeout and on a destroyed sandbox, so the cap is reached again and not passed", async () => {
    const p1 = env.sb.p1.id;
    const p1b = env.sb.p1b.id;
    // Both of the token's places free first (the test before may still be giving its last one back):
    // two commands that overlap for a while both run.
    const overlap = () => env.call("POST", `/v1/sandboxes/${p1}/exec`, env.tokens.p1a, { command: ["sleep", "0.3"] });
    await whenFree(async () => {
      const both = await Promise.all([overlap(), overlap()]);
      return { status: both.some((r) => r.status === 429) ? 429 : 200 };
    });
    // Fill the token's limit: one ends by its timeout, the other with its sandbox.
    const timed = env.call("POST", `/v1/sandboxes/${p1}/exec`, env.tokens.p1a, { command: held("t1"), timeout: "2s" });
    const doomed = await stream(p1b, env.tokens.p1a, held("d1"));
    await started(p1, "/workspace/started-t1");
    await started(p1b, "/workspace/started-d1");
    expectLimit(await env.call("POST", `/v1/sandboxes/${p1}/exec`, env.tokens.p1a, { command: ["true"] }), "perToken", 2);
    expect((await timed).body).toMatchObject({ exitCode: 124, timedOut: true });
    await env.broker.destroy(p1b);
    await doomed.text().catch(() => {});
    // Exactly two places again.
    const again = [
      env.call("POST", `/v1/sandboxes/${p1}/exec`, env.tokens.p1a, { command: held("r1") }),
      env.call("POST", `/v1/sandboxes/${p1}/exec`, env.tokens.p1a, { command: held("r2") }),
    ];
    await started(p1, "/workspace/started-r1");
    await started(p1, "/workspace/started-r2");
    expectLimit(await env.call("POST", `/v1/sandboxes/${p1}/exec`, env.tokens.p1a, { command: ["true"] }), "perToken", 2);
    await env.release(p1, "r1");
    await env.release(p1, "r2");
    expect((await Promise.all(again)).map((r) => r.status)).toEqual([200, 200]);
  });
});
