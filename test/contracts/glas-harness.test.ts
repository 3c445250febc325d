/**
 * glas-harness's flow (docs/integrations/glas-harness.md): an operator mints a
 * tenant token (`sandboxer tokens create --actor agt --project glas`), the
 * harness creates profile.agent-dev through the HTTP API of a real `sandboxer
 * serve`, runs its agent's commands with POST /v1/sandboxes/{id}/exec, and
 * destroys; the same run over MCP (`/mcp` on the same server, same token).
 * Another project's token sees nothing of it (404, never 403), and a repo
 * outside the roots the operator granted the project is refused.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorBody, ExecResult, SandboxRecord } from "../../src/api/schemas.js";
import { CLI, runCli } from "../helpers/cli.js";
import { makeHome, type TestHome } from "../helpers/home.js";
import { recordExample } from "./examples.js";

let home: TestHome;
let server: ChildProcess | undefined;
let url = "";
let glas = "";
let other = "";
let repo = "";

beforeAll(async () => {
  home = makeHome({ SANDBOXER_URL: "" });
  repo = join(home.dir, "repos", "agent-task");
  mkdirSync(repo, { recursive: true });
  // The operator grants the project its repositories' root; tenants name paths only under it.
  writeFileSync(home.env.SANDBOXER_CONFIG as string, `projects:\n  glas: { roots: [${join(home.dir, "repos")}] }\n`);
  mkdirSync(join(home.dir, "elsewhere"));
  writeFileSync(join(repo, "TASK.md"), "fix the failing test\n");
  const mint = async (project: string) =>
    (await runCli(["tokens", "create", "--actor", "agt", "--project", project, "--json"], home.env)).json<{ token: string }>().token;
  glas = await mint("glas");
  other = await mint("someone-else");
  server = spawn(CLI, ["serve", "--port", "0", "--json", "--no-reaper"], { env: home.env as NodeJS.ProcessEnv, stdio: ["ignore", "pipe", "pipe"] });
  const first = await new Promise<string>((resolve, reject) => {
    createInterface({ input: server?.stdout as NodeJS.ReadableStream }).once("line", resolve);
    server?.once("exit", (code) => reject(new Error(`serve exited ${code}`)));
  });
  url = (JSON.parse(first) as { url: string }).url;
});

afterAll(async () => {
  if (server && server.exitCode === null) {
    const gone = new Promise((r) => server?.once("exit", r));
    server.kill("SIGTERM");
    await gone;
  }
  await home?.cleanup();
});

function call(token: string | null, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

describe("glas-harness: profile.agent-dev through the API with a tenant token", { timeout: 120_000 }, () => {
  it("create (Idempotency-Key), exec, get, destroy; every answer in the documented shape", async () => {
    const key = "glas-run-0001";
    const res = await call(glas, "POST", "/v1/sandboxes", { profile: "profile.agent-dev", inputs: { repo } }, { "idempotency-key": key });
    expect(res.status).toBe(201);
    const sb = SandboxRecord.parse(await res.json());
    expect([sb.state, sb.profile, sb.actor, sb.project]).toEqual(["ready", "profile.agent-dev", "agt", "glas"]);
    recordExample("glas-harness-create", sb);
    // The harness retries after a lost reply: the same key answers the same sandbox, nothing new is made.
    const again = SandboxRecord.parse(
      await (await call(glas, "POST", "/v1/sandboxes", { profile: "profile.agent-dev", inputs: { repo } }, { "idempotency-key": key })).json(),
    );
    expect(again.id).toBe(sb.id);

    const ex = await call(glas, "POST", `/v1/sandboxes/${sb.id}/exec`, { command: ["sh", "-c", "cat /workspace/TASK.md; echo done >&2; exit 5"] });
    expect(ex.status).toBe(200);
    const out = ExecResult.parse(await ex.json());
    expect([out.exitCode, out.stdout, out.stderr]).toEqual([5, "fix the failing test\n", "done\n"]);
    recordExample("glas-harness-exec", out);

    const got = SandboxRecord.parse(await (await call(glas, "GET", `/v1/sandboxes/${sb.id}`)).json());
    expect(got.id).toBe(sb.id);
    const del = await call(glas, "DELETE", `/v1/sandboxes/${sb.id}`);
    expect(del.status).toBe(200);
    expect(SandboxRecord.parse(await del.json())).toMatchObject({ state: "destroyed", reason: "user" });
  });

  it("the same run through /mcp with the same token: create_sandbox, exec_command, destroy_sandbox", async () => {
    const client = new Client({ name: "glas-harness", version: "1" });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${glas}` } } }));
    try {
      const ok = async (name: string, args: Record<string, unknown>) => {
        const r = await client.callTool({ name, arguments: args });
        expect(r.isError, `${name}: ${JSON.stringify(r.content)}`).toBeFalsy();
        return r.structuredContent as Record<string, unknown>;
      };
      const sb = SandboxRecord.parse(await ok("create_sandbox", { profile: "profile.agent-dev", inputs: { repo } }));
      expect([sb.state, sb.actor, sb.project]).toEqual(["ready", "agt", "glas"]);
      const out = await ok("exec_command", { id: sb.id, argv: ["cat", "/workspace/TASK.md"] });
      expect(out).toMatchObject({ exitCode: 0, stdout: "fix the failing test\n" });
      recordExample("glas-harness-mcp-exec", out);
      expect(SandboxRecord.parse(await ok("destroy_sandbox", { id: sb.id })).state).toBe("destroyed");
    } finally {
      await client.close();
    }
  });

  it("a repo outside the project's roots is refused (400, naming the input) and creates nothing", async () => {
    const before = ((await (await call(glas, "GET", "/v1/sandboxes?all=true")).json()) as { items: unknown[] }).items.length;
    for (const bad of [join(home.dir, "elsewhere"), "/etc", `${join(home.dir, "repos")}/../elsewhere`]) {
      const r = await call(glas, "POST", "/v1/sandboxes", { profile: "profile.agent-dev", inputs: { repo: bad } });
      expect(r.status, bad).toBe(400);
      expect(ErrorBody.parse(await r.json()).error.message).toMatch(/repo/);
    }
    expect(((await (await call(glas, "GET", "/v1/sandboxes?all=true")).json()) as { items: unknown[] }).items.length).toBe(before);
  });

  it("another project's token gets 404 for every way in; no token is 401; the answers are {error:{code,message}}", async () => {
    const sb = SandboxRecord.parse(await (await call(glas, "POST", "/v1/sandboxes", { profile: "profile.agent-dev", inputs: { repo } })).json());
    for (const [method, path, body] of [
      ["GET", `/v1/sandboxes/${sb.id}`, undefined],
      ["POST", `/v1/sandboxes/${sb.id}/exec`, { command: ["id"] }],
      ["POST", `/v1/sandboxes/${sb.id}/ttl`, { duration: "1h" }],
      ["DELETE", `/v1/sandboxes/${sb.id}`, undefined],
    ] as const) {
      const r = await call(other, method, path, body);
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(ErrorBody.parse(await r.json()).error.code).toBe("SBX_NOT_FOUND");
    }
    const listed = (await (await call(other, "GET", "/v1/sandboxes")).json()) as { items: { id: string }[] };
    expect(listed.items.map((s) => s.id)).not.toContain(sb.id);
    // A tenant cannot act for another project either.
    const forged = await call(other, "POST", "/v1/sandboxes", { profile: "profile.agent-dev", project: "glas", inputs: { repo } });
    expect(forged.status).toBe(403);
    const anon = await call(null, "GET", `/v1/sandboxes/${sb.id}`);
    expect(anon.status).toBe(401);
    recordExample("glas-harness-error", ErrorBody.parse(await anon.json()));
    // Still there, still the harness's.
    expect((await call(glas, "GET", `/v1/sandboxes/${sb.id}`)).status).toBe(200);
    expect((await call(glas, "DELETE", `/v1/sandboxes/${sb.id}`)).status).toBe(200);
  });
});
