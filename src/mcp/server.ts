/**
 * One MCP server instance over the broker, bound to one principal: stdio
 * builds one per connection, the HTTP endpoint one per request (the SDK's
 * per-request model). Building one is cheap: the tool table and its JSON
 * Schemas are made once per process.
 */
import { type CallToolResult, McpServer, type ServerContext } from "@modelcontextprotocol/server";
import type { ToolCall, ToolDeps, ToolDef } from "./define.js";
import { toolError } from "./errors.js";
import { TOOLS } from "./registry.js";

export const SERVER_INFO = { name: "sandboxer", version: "0.1.0" };

const INSTRUCTIONS = [
  "sand-boxer establishes sandboxes: isolated places to run commands and keep files.",
  "Pick a profile with list_profiles, create_sandbox (wait for it: it returns when ready), then exec_command, write_file/read_file,",
  "or start_process + read_process_output for long-running commands. Every sandbox has a TTL (expiresAt; extend_ttl);",
  "destroy_sandbox when done. Errors start with an SBX_ code and say what to do next.",
].join(" ");

function callFor(deps: ToolDeps, ctx: ServerContext): ToolCall {
  const token = ctx.mcpReq._meta?.progressToken;
  let n = 0;
  let signal: AbortSignal | undefined;
  return {
    ...deps,
    // Made on first use: most tools never look, and AbortSignal.any costs more than the rest of a call.
    get signal() {
      if (!signal) {
        const also = [deps.shutdown, deps.cancelled].filter((s): s is AbortSignal => s !== undefined);
        signal = also.length ? AbortSignal.any([ctx.mcpReq.signal, ...also]) : ctx.mcpReq.signal;
      }
      return signal;
    },
    wantsProgress: token !== undefined,
    async progress(message) {
      if (token === undefined) return;
      n += 1;
      await ctx.mcpReq.notify({ method: "notifications/progress", params: { progressToken: token, progress: n, message } });
    },
  };
}

function runTool(tool: ToolDef, deps: ToolDeps, args: unknown, ctx: ServerContext): Promise<CallToolResult> {
  const running = callTool(tool, deps, args, ctx);
  deps.hold?.(running);
  if (deps.calls) {
    const calls = deps.calls;
    calls.add(running);
    void running.finally(() => calls.delete(running));
  }
  return running;
}

async function callTool(tool: ToolDef, deps: ToolDeps, args: unknown, ctx: ServerContext): Promise<CallToolResult> {
  try {
    const reply = await tool.run(args, callFor(deps, ctx));
    if (tool.writes && deps.afterWrite) await deps.afterWrite().catch(() => {});
    const data = reply.data as Record<string, unknown>;
    return { content: [{ type: "text", text: reply.text ?? JSON.stringify(data) }], structuredContent: data };
  } catch (err) {
    return toolError(err, deps.principal);
  }
}

export function buildServer(deps: ToolDeps): McpServer {
  const server = new McpServer(SERVER_INFO, { instructions: INSTRUCTIONS, capabilities: { tools: { listChanged: false } } });
  for (const tool of TOOLS) {
    server.registerTool(
      tool.name,
      { title: tool.title, description: tool.description, inputSchema: tool.input, outputSchema: tool.output, annotations: tool.annotations },
      (args: unknown, ctx: ServerContext) => runTool(tool, deps, args, ctx),
    );
  }
  return server;
}
