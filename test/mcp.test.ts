/**
 * The MCP server end to end, driven by the official MCP client SDK over both
 * transports: a real `sandboxer mcp` subprocess (stdio, as the local
 * operator) and `/mcp` on a real `sandboxer serve` on 127.0.0.1 (bearer
 * tokens, tenancy). Real bubblewrap sandboxes (profile.local).
 */
import type { Client } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Env } from "../src/config.js";
import { TOOLS } from "../src/mcp/registry.js";
import { makeHome, type TestHome } from "./helpers/home.js";
import { callErr, callOk, connectHttp, connectStdio, mintToken, type Served, startServe } from "./helpers/mcp.js";
import { buildPrivateCli, type PrivateCli } from "./helpers/private-cli.js";

type Rec = { id: string; state: string; profile: string; project: string | null; actor: string; expiresAt: string | null };

let cli: PrivateCli;
let home: TestHome;
let served: Served;
const tokens = { adm: "", p1: "", p2: "" };
const clients: Client[] = [];

async function keep<T extends Client | { client: Client }>(c: Promise<T>): Promise<T> {
  const got = await c;
  clients.push("client" in got ? got.client : got);
  return got;
}

beforeAll(async () => {
  cli = await buildPrivateCli();
  home = makeHome();
  tokens.adm = await mintToken(cli, home.env, "adm");
  tokens.p1 = await mintToken(cli, home.env, "agt", "p1");
  tokens.p2 = await mintToken(cli, home.env, "agt", "p2");
  served = await startServe(cli, home.env);
});

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await served?.stop();
  await home?.cleanup();
  cli?.cleanup();
});

const transports: { name: string; connect: () => Promise<Client>; project: string | null }[] = [
  { name: "stdio (sandboxer mcp)", connect: async () => (await keep(connectStdio(cli, home.env))).client, project: null },
  { name: "Streamable HTTP (/mcp on sandboxer serve)", connect: () => keep(connectHttp(served.url, tokens.p1)), project: "p1" },
  { name: "Streamable HTTP, 2026-07-28 revision", connect: () => keep(connectHttp(served.url, tokens.p1, { modern: true })), project: "p1" },
];

describe.each(transports)("MCP over $name", ({ connect, project }) => {
  let c: Client;
  beforeAll(async () => {
    c = await connect();
  });

  it("lists every tool with an input and an output schema", async () => {
    const { tools } = await c.listTools();
    expect(tools.map((t) => t.name)).toEqual(TOOLS.map((t) => t.name));
    for (const t of tools) {
      expect(t.inputSchema.type, t.name).toBe("object");
      expect(t.outputSchema?.type, t.name).toBe("object");
      expect(t.description?.length, t.name).toBeGreaterThan(20);
    }
  });

  it("create (with progress), exec, snapshot, restore, extend the TTL, destroy", async () => {
    const notes: string[] = [];
    const sb = await callOk<Rec>(c, "create_sandbox", { profile: "profile.local", ttl: "20m" }, { onprogress: (p) => notes.push(p.message ?? "") });
    expect(sb).toMatchObject({ state: "ready", project });
    expect(notes.length).toBeGreaterThan(0);
    expect(notes[0]).toContain(sb.id);

    const ran = await callOk(c, "exec_command", { id: sb.id, command: "echo out; echo err >&2; exit 3" });
    expect(ran).toMatchObject({ exitCode: 3, stdout: "out\n", stderr: "err\n", stdoutBytes: 4, truncated: false });
    expect(await callOk(c, "exec_command", { id: sb.id, argv: ["sh", "-c", 'printf "%s" "$0"', "a b; c"] })).toMatchObject({ exitCode: 0, stdout: "a b; c" });
    const big = await callOk<{ stdout: string; stdoutBytes: number; truncated: boolean }>(c, "exec_command", {
      id: sb.id,
      command: "head -c 100000 /dev/zero | tr '\\0' a",
      maxOutputBytes: 1024,
    });
    expect(big).toMatchObject({ stdoutBytes: 100_000, truncated: true });
    expect(big.stdout).toContain("98976 bytes cut here; 100000 bytes in all");
    expect(big.stdout.startsWith("a".repeat(256))).toBe(true);

    await callOk(c, "exec_command", { id: sb.id, command: "echo kept > /workspace/note" });
    const snap = await callOk<{ id: string; sandboxId: string; path?: string }>(c, "snapshot_sandbox", { id: sb.id, name: "mcp" });
    expect(snap.sandboxId).toBe(sb.id);
    if (project) expect(snap.path).toBeUndefined();
    const restored = await callOk<Rec>(c, "restore_snapshot", { snapshot: snap.id });
    expect(restored).toMatchObject({ state: "ready", project });
    expect(await callOk(c, "exec_command", { id: restored.id, argv: ["cat", "/workspace/note"] })).toMatchObject({ stdout: "kept\n" });

    const longer = await callOk<Rec>(c, "extend_ttl", { id: sb.id, duration: "1h" });
    expect(Date.parse(longer.expiresAt ?? "")).toBeGreaterThan(Date.parse(sb.expiresAt ?? ""));
    expect((await callOk<Rec>(c, "get_sandbox", { id: sb.id })).expiresAt).toBe(longer.expiresAt);
    const listed = await callOk<{ sandboxes: Rec[] }>(c, "list_sandboxes");
    expect(listed.sandboxes.map((s) => s.id)).toEqual(expect.arrayContaining([sb.id, restored.id]));

    for (const id of [sb.id, restored.id]) expect((await callOk<Rec>(c, "destroy_sandbox", { id })).state).toBe("destroyed");
    expect((await callErr(c, "exec_command", { id: sb.id, argv: ["true"] })).code).toBe("SBX_INVALID_STATE");
    expect((await callOk<{ sandboxes: Rec[] }>(c, "list_sandboxes", { all: true })).sandboxes.find((s) => s.id === sb.id)?.state).toBe("destroyed");
  });

  it("lists profiles with their inputs and TTLs", async () => {
    const { profiles } = await callOk<{ profiles: { id: string; backends: string[]; ttl: { max: string }; file?: string }[] }>(c, "list_profiles");
    const local = profiles.find((p) => p.id === "profile.local");
    expect(local?.backends).toEqual(["ext.local"]);
    expect(local?.ttl.max).toMatch(/^\d+[smhd]/);
    // Server paths stay on the server.
    expect(JSON.stringify(profiles)).not.toContain(home.dir);
  });

  it("answers bad calls with an SBX_ code and a next step, creating nothing", async () => {
    const before = (await callOk<{ sandboxes: Rec[] }>(c, "list_sandboxes", { all: true })).sandboxes.length;
    const both = await callErr(c, "exec_command", { id: "sbx-aaaaaaaaaaaa", command: "true", argv: ["true"] });
    expect(both.code).toBe("SBX_USAGE");
    expect(both.text).toContain("exactly one of command");
    expect((await callErr(c, "create_sandbox", { profile: "profile.local", nonsense: 1 })).code).toBe("SBX_USAGE");
    const unknown = await callErr(c, "create_sandbox", { profile: "profile.nope" });
    expect(unknown.code).toBe("SBX_PROFILE_NOT_FOUND");
    expect(unknown.text).toContain("list_profiles");
    expect((await callErr(c, "create_sandbox", { profile: "profile.local", inputs: { nope: "x" } })).code).toBe("SBX_INPUT_UNKNOWN");
    expect((await callErr(c, "create_sandbox", { profile: "profile.local", ttl: "forever" })).code).toBe("SBX_TTL_INVALID");
    const missing = await callErr(c, "get_sandbox", { id: "sbx-aaaaaaaaaaaa" });
    expect(missing.code).toBe("SBX_NOT_FOUND");
    expect(missing.text).toContain("list_sandboxes");
    expect((await callErr(c, "restore_snapshot", { snapshot: "snap-aaaaaaaaaaaa" })).code).toBe("SBX_NOT_FOUND");
    expect((await callOk<{ sandboxes: Rec[] }>(c, "list_sandboxes", { all: true })).sandboxes.length).toBe(before);
  });
});

describe("tenancy through MCP", () => {
  let p1: Client;
  let p2: Client;
  let adm: Client;
  let theirs: Rec;
  let theirSnap: string;
  const remote = (token: string): Env => ({ ...home.env, SANDBOXER_URL: served.url, SANDBOXER_TOKEN: token });

  beforeAll(async () => {
    p1 = await keep(connectHttp(served.url, tokens.p1));
    p2 = await keep(connectHttp(served.url, tokens.p2));
    adm = await keep(connectHttp(served.url, tokens.adm));
    theirs = await callOk<Rec>(p1, "create_sandbox", { profile: "profile.local" });
    theirSnap = (await callOk<{ id: string }>(p1, "snapshot_sandbox", { id: theirs.id })).id;
  });

  afterAll(async () => {
    if (theirs) await callOk(p1, "destroy_sandbox", { id: theirs.id }).catch(() => {});
  });

  const attacks: [string, (id: string, snap: string) => Record<string, unknown>][] = [
    ["get_sandbox", (id) => ({ id })],
    ["exec_command", (id) => ({ id, argv: ["true"] })],
    ["start_process", (id) => ({ id, argv: ["true"] })],
    ["read_process_output", (id) => ({ id, pid: "1" })],
    ["kill_process", (id) => ({ id, pid: "1" })],
    ["write_file", (id) => ({ id, path: "/workspace/x", content: "x" })],
    ["read_file", (id) => ({ id, path: "/etc/hostname" })],
    ["list_files", (id) => ({ id, path: "/" })],
    ["snapshot_sandbox", (id) => ({ id })],
    ["restore_snapshot", (_id, snap) => ({ snapshot: snap })],
    ["extend_ttl", (id) => ({ id, duration: "1h" })],
    ["destroy_sandbox", (id) => ({ id })],
  ];

  it("another project's sandbox and snapshot answer as not found, for every tool that takes one", async () => {
    for (const [tool, args] of attacks) {
      const e = await callErr(p2, tool, args(theirs.id, theirSnap));
      expect(e.code, tool).toBe("SBX_NOT_FOUND");
      // The same words as an id that does not exist: nothing tells the two apart.
      const unknown = await callErr(p2, tool, args("sbx-aaaaaaaaaaaa", "snap-aaaaaaaaaaaa"));
      expect(e.text.replace(theirs.id, "ID").replace(theirSnap, "ID"), tool).toBe(
        unknown.text.replace("sbx-aaaaaaaaaaaa", "ID").replace("snap-aaaaaaaaaaaa", "ID"),
      );
    }
    expect((await callOk<{ sandboxes: Rec[] }>(p2, "list_sandboxes", { all: true })).sandboxes.map((s) => s.id)).not.toContain(theirs.id);
    expect((await callOk<Rec>(p1, "get_sandbox", { id: theirs.id })).state).toBe("ready");
    expect((await callOk<Rec>(adm, "get_sandbox", { id: theirs.id })).project).toBe("p1");
  });

  it("a tenant creates only in its own project and cannot reach operator routes with its token", async () => {
    const mine = await callOk<Rec>(p2, "create_sandbox", { profile: "profile.local" });
    expect(mine).toMatchObject({ project: "p2", actor: "agt" });
    expect((await callOk<{ sandboxes: Rec[] }>(p1, "list_sandboxes")).sandboxes.map((s) => s.id)).not.toContain(mine.id);
    expect((await callOk<{ sandboxes: Rec[] }>(adm, "list_sandboxes")).sandboxes.map((s) => s.id)).toEqual(expect.arrayContaining([mine.id, theirs.id]));
    await callOk(p2, "destroy_sandbox", { id: mine.id });
    for (const [method, path] of [
      ["POST", "/v1/expire"],
      ["POST", "/v1/reconcile"],
    ] as const) {
      const r = await fetch(`${served.url}${path}`, {
        method,
        headers: { Authorization: `Bearer ${tokens.p2}`, "Content-Type": "application/json" },
        body: "{}",
      });
      expect(r.status, path).toBe(403);
    }
  });

  it("a tenant is offered, and may create from, only the profiles open to it", async () => {
    type Profiles = { profiles: { id: string }[] };
    const theirsList = (await callOk<Profiles>(p2, "list_profiles")).profiles.map((p) => p.id);
    const all = (await callOk<Profiles>(adm, "list_profiles")).profiles.map((p) => p.id);
    expect(all).toContain("profile.vm-packer-build");
    expect(theirsList).toContain("profile.local");
    expect(theirsList).not.toContain("profile.vm-packer-build");
    const refused = await callErr(p2, "create_sandbox", { profile: "profile.vm-packer-build" });
    expect(refused.code).toBe("SBX_FORBIDDEN");
    expect((await callOk<{ sandboxes: Rec[] }>(p2, "list_sandboxes", { all: true })).sandboxes.map((s) => s.profile)).not.toContain("profile.vm-packer-build");
  });

  it("`sandboxer mcp` with SANDBOXER_URL and a tenant token acts as that tenant", async () => {
    const { client } = await keep(connectStdio(cli, remote(tokens.p2)));
    expect((await callErr(client, "get_sandbox", { id: theirs.id })).code).toBe("SBX_NOT_FOUND");
    expect((await callErr(client, "exec_command", { id: theirs.id, argv: ["true"] })).code).toBe("SBX_NOT_FOUND");
    expect((await callErr(client, "destroy_sandbox", { id: theirs.id })).code).toBe("SBX_NOT_FOUND");
    expect((await callOk<{ sandboxes: Rec[] }>(client, "list_sandboxes", { all: true })).sandboxes.map((s) => s.id)).not.toContain(theirs.id);
    const own = await callOk<Rec>(client, "create_sandbox", { profile: "profile.local" });
    expect(own.project).toBe("p2");
    expect(await callOk(client, "exec_command", { id: own.id, command: "echo remote" })).toMatchObject({ exitCode: 0, stdout: "remote\n" });
    await callOk(client, "destroy_sandbox", { id: own.id });
    expect((await callOk<Rec>(p1, "get_sandbox", { id: theirs.id })).state).toBe("ready");
  });

  it("refuses a missing or unknown token with 401, before any MCP message is read", async () => {
    const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" });
    const headers = { "Content-Type": "application/json", Accept: "application/json, text/event-stream" };
    for (const auth of [undefined, "Bearer sbx_tok-aaaaaaaaaaaa_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "Basic Zm9vOmJhcg==", `Bearer ${tokens.p1}x`]) {
      const r = await fetch(`${served.url}/mcp`, { method: "POST", headers: { ...headers, ...(auth ? { Authorization: auth } : {}) }, body });
      expect(r.status, String(auth)).toBe(401);
      expect(r.headers.get("WWW-Authenticate")).toMatch(/^Bearer /);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe("SBX_UNAUTHORIZED");
    }
    await expect(connectHttp(served.url, undefined)).rejects.toThrow(/SBX_UNAUTHORIZED|401/);
    await expect(connectHttp(served.url, "sbx_tok-aaaaaaaaaaaa_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")).rejects.toThrow(/SBX_UNAUTHORIZED|401/);
  });

  it("bounds what it reads: malformed JSON and oversize bodies are refused, write_file content above 4 MiB too", async () => {
    const headers = { Authorization: `Bearer ${tokens.p1}`, "Content-Type": "application/json", Accept: "application/json, text/event-stream" };
    const bad = await fetch(`${served.url}/mcp`, { method: "POST", headers, body: "{not json" });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: number } }).error.code).toBe(-32700);
    const huge = await fetch(`${served.url}/mcp`, { method: "POST", headers, body: JSON.stringify({ pad: "x".repeat(6 * 1024 * 1024) }) });
    expect(huge.status).toBe(413);
    // Under the body limit but over write_file's own: refused before anything is written.
    const e = await callErr(p1, "write_file", {
      id: theirs.id,
      path: "/workspace/big",
      content: Buffer.alloc(4 * 1024 * 1024 + 1).toString("base64"),
      encoding: "base64",
    });
    expect(e.code).toBe("SBX_USAGE");
    expect(e.text).toContain("content");
  });
});
