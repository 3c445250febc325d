/**
 * `sandboxer mcp`: MCP over this process's stdin/stdout for a desktop agent.
 * stdout carries only protocol messages; notes go to stderr. Runs until the
 * client closes stdin (or SIGINT/SIGTERM), then lets tool calls in progress
 * clean up (a create cancelled half-way tears down what it made).
 */
import { serveStdio } from "@modelcontextprotocol/server/stdio";
import type { Principal } from "../api/tokens.js";
import type { ToolDeps } from "./define.js";
import { buildServer } from "./server.js";

/** The local operator: no token, every project (the CLI without SANDBOXER_URL is `adm`). */
export const LOCAL_OPERATOR: Principal = { tokenId: "local", actor: "adm", project: null };

export async function runStdio(deps: Omit<ToolDeps, "calls" | "shutdown">): Promise<void> {
  const calls = new Set<Promise<unknown>>();
  const stop = new AbortController();
  const handle = serveStdio(() => buildServer({ ...deps, calls, shutdown: stop.signal }), {
    onerror: (err) => process.stderr.write(`sandboxer mcp: ${err.message}\n`),
  });
  await new Promise<void>((resolve) => {
    const done = () => resolve();
    process.stdin.once("end", done);
    process.stdin.once("close", done);
    process.once("SIGINT", done);
    process.once("SIGTERM", done);
  });
  stop.abort();
  await Promise.allSettled([...calls]);
  await handle.close();
}
