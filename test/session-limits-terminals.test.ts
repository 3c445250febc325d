/**
 * A tenant looping "open terminal" (docs/security.md "Session limits"): a
 * token opens real terminals (bwrap sandbox, the server's pty, the WebSocket
 * route on 127.0.0.1) up to its limit and the next is refused with
 * SBX_SESSION_LIMIT before anything runs; its project's limit holds across
 * its tokens; another project still gets a terminal and an operator's GET
 * still answers. Slots come back however a terminal ends (the client hangs
 * up, the command exits, the socket is cut, the sandbox is destroyed), so
 * the cap can be reached again, no more and no less.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./helpers/cli.js";
import { expectLimit, type LimitsEnv, limitsEnv, openTerminal, type Term, whenFree } from "./helpers/session-limits.js";

let env: LimitsEnv;

beforeAll(async () => {
  env = await limitsEnv({ terminals: { perToken: 2, perProject: 3 } });
}, 120_000);

afterAll(async () => {
  await env?.close();
});

const exists = async (id: string, path: string) =>
  (await env.broker.exec(id, ["test", "-e", path], { stdin: "ignore", stdout: "pipe", stderr: "pipe" })).exitCode === 0;

/** Until its input says "x": a terminal that stays open until told. */
const HOLD = ["sh", "-c", "read line"];

describe("terminal limits per token and project", { timeout: 240_000 }, () => {
  it("refuses the terminal past the token's and the project's limit, runs nothing for it, and keeps others served", async () => {
    const open: Term[] = [];
    const term = async (id: string, token: string, argv = HOLD) => {
      const t = await openTerminal(env.server, id, token, argv);
      if (t.ws) open.push(t);
      return t;
    };
    try {
      expect((await term(env.sb.p1.id, env.tokens.p1a)).status).toBe(101);
      expect((await term(env.sb.p1.id, env.tokens.p1a)).status).toBe(101);
      // The third of the same token: refused before anything ran (its command would have left a file).
      const refused = await term(env.sb.p1.id, env.tokens.p1a, ["touch", "/workspace/refused-token"]);
      const msg = expectLimit(refused, "sessionLimits.terminals.perToken", 2);
      expect(msg).toContain("this token");
      expect(await exists(env.sb.p1.id, "/workspace/refused-token")).toBe(false);
      // The remote CLI says the same: the code, the limit, exit 4 (refused).
      const cli = await runCli(["exec", "-it", env.sb.p1.id, "--", "touch", "/workspace/refused-cli"], {
        ...env.home.env,
        SANDBOXER_URL: env.server.url,
        SANDBOXER_TOKEN: env.tokens.p1a,
      });
      expect(cli.code).toBe(4);
      expect(cli.stderr).toContain("SBX_SESSION_LIMIT");
      expect(cli.stderr).toContain("sessionLimits.terminals.perToken");
      expect(await exists(env.sb.p1.id, "/workspace/refused-cli")).toBe(false);

      // Another token of the same project gets the project's last place, then meets the project's limit.
      expect((await term(env.sb.p1b.id, env.tokens.p1b)).status).toBe(101);
      const byProject = await term(env.sb.p1b.id, env.tokens.p1c, ["touch", "/workspace/refused-project"]);
      expect(expectLimit(byProject, "sessionLimits.terminals.perProject", 3)).toContain("project 'p1'");
      expect(await exists(env.sb.p1b.id, "/workspace/refused-project")).toBe(false);

      // Another project is not starved, and the operator's reads answer.
      expect((await term(env.sb.p2.id, env.tokens.p2)).status).toBe(101);
      expect((await env.call("GET", "/v1/sandboxes", env.tokens.adm)).status).toBe(200);
      expect((await env.call("GET", `/v1/sandboxes/${env.sb.p1.id}`, env.tokens.p1a)).status).toBe(200);
    } finally {
      for (const t of open) t.ws?.close();
      await Promise.all(open.map((t) => t.closed));
    }
  });

  it("gives each slot back however the terminal ends, so the cap is reached again and not passed", async () => {
    // Fill the token's limit, then end the two terminals in two different ways.
    const a = await whenFree(() => openTerminal(env.server, env.sb.p1.id, env.tokens.p1a, HOLD));
    const b = await whenFree(() => openTerminal(env.server, env.sb.p1.id, env.tokens.p1a, HOLD));
    expect([a.status, b.status]).toEqual([101, 101]);
    expectLimit(await openTerminal(env.server, env.sb.p1.id, env.tokens.p1a, HOLD), "perToken", 2);
    // 1. The command exits on its own.
    a.ws?.send(Buffer.from("x\r"), { binary: true });
    expect((await a.closed).type).toBe("exit");
    // 2. The client hangs up.
    b.ws?.close();
    await b.closed;
    const c = await whenFree(() => openTerminal(env.server, env.sb.p1.id, env.tokens.p1a, HOLD));
    const d = await whenFree(() => openTerminal(env.server, env.sb.p1.id, env.tokens.p1a, HOLD));
    expect([c.status, d.status]).toEqual([101, 101]);
    expectLimit(await openTerminal(env.server, env.sb.p1.id, env.tokens.p1a, HOLD), "perToken", 2);
    // 3. The connection is cut without a close frame; 4. the sandbox is destroyed under the other.
    c.ws?.terminate();
    await c.closed;
    const e = await whenFree(() => openTerminal(env.server, env.sb.p1b.id, env.tokens.p1a, HOLD));
    expect(e.status).toBe(101);
    expectLimit(await openTerminal(env.server, env.sb.p1.id, env.tokens.p1a, HOLD), "perToken", 2);
    await env.broker.destroy(env.sb.p1b.id);
    await e.closed;
    d.ws?.close();
    await d.closed;
    // Both places are free again: exactly two more, then the refusal.
    const f = await whenFree(() => openTerminal(env.server, env.sb.p1.id, env.tokens.p1a, HOLD));
    const g = await whenFree(() => openTerminal(env.server, env.sb.p1.id, env.tokens.p1a, HOLD));
    try {
      expect([f.status, g.status]).toEqual([101, 101]);
      expectLimit(await openTerminal(env.server, env.sb.p1.id, env.tokens.p1a, HOLD), "perToken", 2);
    } finally {
      for (const t of [f, g]) t.ws?.close();
      await Promise.all([f.closed, g.closed]);
    }
  });

  it("a refused open of another project's sandbox stays the 404 of an unknown id (tenancy before limits)", async () => {
    const t = await openTerminal(env.server, env.sb.p2.id, env.tokens.p1a, HOLD);
    expect(t.status).toBe(404);
    expect(t.body.error?.code).toBe("SBX_NOT_FOUND");
  });
});
