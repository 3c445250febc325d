/**
 * Driving sand-boxer's MCP server with the official MCP client SDK: a real
 * `sandboxer mcp` subprocess over stdio, or `/mcp` on a real `sandboxer serve`.
 */
import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import type { Env } from "../../src/config.js";
import type { PrivateCli } from "./private-cli.js";

export interface Served {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** `sandboxer serve` on 127.0.0.1 and a free port, until `stop()`. */
export async function startServe(cli: PrivateCli, env: Env, extra: string[] = []): Promise<Served> {
  const child = cli.spawn(["serve", "--port", "0", "--json", "--no-reaper", "--rate-limit", "0", ...extra], env);
  // Kept (bounded) so a server that dies mid-file says why in the test log.
  let tail = "";
  child.stderr?.on("data", (d: Buffer) => {
    tail = (tail + d.toString()).slice(-4000);
  });
  let stopping = false;
  const exited = new Promise<void>((r) =>
    child.once("exit", (code, signal) => {
      if (!stopping) console.error(`sandboxer serve exited early (code ${code}, signal ${signal}); its stderr:\n${tail}`);
      r();
    }),
  );
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`serve exited ${code}`)));
  });
  return {
    url: (JSON.parse(line) as { url: string }).url,
    child,
    async stop() {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

export async function mintToken(cli: PrivateCli, env: Env, actor: string, project?: string): Promise<string> {
  const r = await cli.run(["tokens", "create", "--actor", actor, ...(project ? ["--project", project] : []), "--json"], env);
  if (r.code !== 0) throw new Error(`tokens create: ${r.stderr}`);
  return r.json<{ token: string }>().token;
}

/** A client on `/mcp`; `modern` negotiates the 2026-07-28 revision instead of the 2025 handshake. */
export async function connectHttp(url: string, token: string | undefined, opts: { modern?: boolean } = {}): Promise<Client> {
  const client = new Client({ name: "sandboxer-test", version: "1" }, opts.modern ? { versionNegotiation: { mode: "auto" } } : {});
  const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers } }));
  return client;
}

/** A client that starts `sandboxer mcp` itself, as desktop agents do. */
export async function connectStdio(cli: PrivateCli, env: Env): Promise<{ client: Client; stderr: () => string }> {
  const transport = new StdioClientTransport({ command: process.execPath, args: [cli.path, "mcp"], env: env as Record<string, string>, stderr: "pipe" });
  let err = "";
  transport.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const client = new Client({ name: "sandboxer-test", version: "1" });
  await client.connect(transport);
  return { client, stderr: () => err };
}

type Result = Awaited<ReturnType<Client["callTool"]>>;

const textOf = (r: Result) => (r.content as { type: string; text?: string }[]).map((c) => c.text ?? "").join("\n");

/** The structured result of a tool that must succeed. */
export async function callOk<T = Record<string, unknown>>(
  client: Client,
  name: string,
  args: Record<string, unknown> = {},
  opts: Parameters<Client["callTool"]>[1] = {},
): Promise<T> {
  const r = await client.callTool({ name, arguments: args }, opts);
  if (r.isError) throw new Error(`${name} failed: ${textOf(r)}`);
  return r.structuredContent as T;
}

/** The SBX_ code (and text) of a tool call that must fail. */
export async function callErr(client: Client, name: string, args: Record<string, unknown> = {}): Promise<{ code: string; text: string }> {
  const r = await client.callTool({ name, arguments: args });
  if (!r.isError) throw new Error(`${name} succeeded: ${textOf(r)}`);
  const text = textOf(r);
  return { code: /(SBX_[A-Z_]+)/.exec(text)?.[1] ?? "(no code)", text };
}
