/**
 * The capability registry entry (registry/capabilities/execution.sandbox-provision.{md,yaml})
 * against the running code: every CLI command, HTTP path and schema it lists
 * exists, and everything that exists is listed. The YAML is what
 * `make registry` generates; a stale one fails here with that instruction.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { parse } from "yaml";
import { capabilityRegistry, REGISTRY_FILE, render } from "../../scripts/registry.js";
import { createApp } from "../../src/api/app.js";
import { CLI, runCli } from "../helpers/cli.js";
import { makeHome, type TestHome } from "../helpers/home.js";

const ROOT = join(import.meta.dirname, "..", "..");
const MD = join(ROOT, "registry", "capabilities", "execution.sandbox-provision.md");

interface Registry {
  id: string;
  version: string;
  status: string;
  interfaces: {
    cli: { commands: string[] };
    http: { paths: { method: string; path: string; operationId: string; request: string | null; responses: Record<string, string | null> }[] };
    mcp: { tools: { name: string; readOnly: boolean; input: Record<string, unknown>; output: Record<string, unknown> }[] };
    events: { schema: string };
  };
  schemas: Record<string, unknown>;
}

const committed = parse(readFileSync(REGISTRY_FILE, "utf8")) as Registry;
let home: TestHome;
let app: ReturnType<typeof createApp>;
let served: { paths: Record<string, Record<string, { operationId: string }>>; components: { schemas: Record<string, unknown> } };

beforeAll(async () => {
  home = makeHome();
  app = createApp(home.broker(), { accessLog: () => {} });
  served = (await (await app.app.request("/openapi.json")).json()) as typeof served;
});
afterAll(async () => {
  await app?.shutdown();
  await home?.cleanup();
});

describe("registry/capabilities/execution.sandbox-provision.yaml", () => {
  it("is what `make registry` generates from the code now", () => {
    expect(readFileSync(REGISTRY_FILE, "utf8"), "stale registry: run `make registry`").toBe(render(capabilityRegistry()));
    expect([committed.id, committed.status]).toEqual(["execution.sandbox-provision", "beta"]);
    expect(committed.version).toBe((JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version);
  });

  it("lists every CLI command the built CLI has, and each one it lists answers --help", async () => {
    const help = await runCli(["--help"], home.env);
    const listed = [...help.stdout.matchAll(/^ {2}([a-z][a-z-]*) {2,}\S/gm)].map((m) => m[1]);
    expect(committed.interfaces.cli.commands).toEqual(listed);
    for (const name of committed.interfaces.cli.commands) {
      const r = await runCli([name, "--help"], home.env);
      expect(r.code, `sandboxer ${name} --help: ${r.stderr}`).toBe(0);
    }
    expect((await runCli(["no-such-command"], home.env)).code).toBe(2);
    expect(existsSync(CLI)).toBe(true);
  }, 120_000);

  it("lists every HTTP operation the server documents at /openapi.json, and each one is routed", async () => {
    const fromServer = Object.entries(served.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => `${method} ${path} ${op.operationId}`));
    const fromRegistry = committed.interfaces.http.paths.map((p) => `${p.method} ${p.path} ${p.operationId}`);
    expect(fromRegistry.sort()).toEqual(fromServer.sort());
    for (const p of committed.interfaces.http.paths) {
      // Without a token: 401 (or the public answer), never the router's 404 for an unknown path.
      const res = await app.app.request(p.path.replace("{id}", "sbx-aaaaaaaaaaaa"), { method: p.method.toUpperCase() });
      expect(res.status, `${p.method} ${p.path}`).not.toBe(404);
      expect(res.status, `${p.method} ${p.path}`).not.toBe(405);
    }
  });

  it("lists every MCP tool a real `sandboxer mcp` announces, with the same argument and result schemas", async () => {
    const transport = new StdioClientTransport({ command: CLI, args: ["mcp"], env: home.env as Record<string, string>, stderr: "pipe" });
    const client = new Client({ name: "registry-test", version: "1" });
    await client.connect(transport);
    try {
      const { tools } = await client.listTools();
      expect(committed.interfaces.mcp.tools.map((t) => t.name)).toEqual(tools.map((t) => t.name));
      const noDialect = (o: Record<string, unknown> | undefined) => {
        const { $schema: _s, ...rest } = o ?? {};
        return rest;
      };
      for (const t of tools) {
        const listed = committed.interfaces.mcp.tools.find((x) => x.name === t.name);
        expect(noDialect(listed?.input), `${t.name} input`).toEqual(noDialect(t.inputSchema as Record<string, unknown>));
        expect(noDialect(listed?.output), `${t.name} output`).toEqual(noDialect(t.outputSchema as Record<string, unknown>));
        expect(listed?.readOnly, `${t.name} readOnly`).toBe(t.annotations?.readOnlyHint === true);
      }
    } finally {
      await client.close();
    }
  }, 60_000);

  it("its schemas are the server's OpenAPI components, and every name it uses is one of them", () => {
    const rewritten = JSON.parse(JSON.stringify(served.components.schemas).replaceAll("#/components/schemas/", "#/schemas/")) as Record<string, unknown>;
    expect(committed.schemas).toEqual(rewritten);
    const used = new Set<string>([committed.interfaces.events.schema]);
    for (const p of committed.interfaces.http.paths) {
      if (p.request && p.request !== "inline") used.add(p.request);
      for (const r of Object.values(p.responses)) if (r && r !== "inline" && r !== "text/event-stream") used.add(r);
    }
    for (const name of used) expect(committed.schemas[name], `schema ${name}`).toBeDefined();
  });

  it("the page names the twin, every interface, and links only to files that exist", () => {
    const md = readFileSync(MD, "utf8");
    expect(md).toContain("execution.sandbox-provision.yaml");
    for (const word of ["## What it provides", "## Status", "## Owners", "## How to call it", "## Links"]) expect(md).toContain(word);
    for (const m of md.matchAll(/\]\((?!https?:|#)([^)#]+)(?:#[^)]*)?\)/g)) {
      expect(existsSync(join(ROOT, "registry", "capabilities", m[1] as string)), `broken link ${m[1]}`).toBe(true);
    }
  });
});
