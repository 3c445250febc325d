/**
 * Streamable HTTP at `/mcp` on the API server: the same bearer tokens, rate
 * limit and tenancy as `/v1` (the API's own `authenticate` runs first), then
 * the SDK's per-request handler with a server bound to the token's principal.
 * Mounted ahead of the API's 64 KiB body limit: write_file content travels in
 * the JSON body, bounded here instead.
 */
import { type AuthInfo, createMcpHandler } from "@modelcontextprotocol/server";
import type { Hono, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Principal } from "../api/tokens.js";
import type { Broker } from "../broker.js";
import { buildServer } from "./server.js";
import { MAX_WRITE_BYTES } from "./tools/files.js";

/** A write_file of MAX_WRITE_BYTES, base64 (4/3) in a JSON-RPC envelope. */
const MAX_BODY = Math.ceil((MAX_WRITE_BYTES * 4) / 3) + 64 * 1024;

export interface McpMountOptions<E extends McpVars> {
  broker: Broker;
  /** The API's token check: sets `principal` on the context, or answers 401/429. */
  authenticate: MiddlewareHandler<E>;
  /** Aborted when the server shuts down: cancels creates running under MCP calls. */
  shutdown: AbortSignal;
}

/** What the API app's context carries that the mount reads. */
export type McpVars = { Variables: { principal: Principal | null } };

export interface McpMount {
  /** End in-flight exchanges and wait for their tool calls to finish cleaning up. */
  close(): Promise<void>;
}

const rpcError = (code: number, message: string) => ({ jsonrpc: "2.0", id: null, error: { code, message } });

function principalOf(auth: AuthInfo | undefined): Principal {
  const p = auth?.extra?.principal as Principal | undefined;
  // Only reachable past `authenticate`; without a principal, fail closed rather than serve as anyone.
  if (!p) throw new Error("MCP request without a verified principal");
  return p;
}

export function mountMcp<E extends McpVars>(app: Hono<E>, opts: McpMountOptions<E>): McpMount {
  // Tool calls outlive their HTTP response (an SSE stream answers at once): shutdown waits for these.
  const calls = new Set<Promise<unknown>>();
  const handler = createMcpHandler(({ authInfo }) => buildServer({ broker: opts.broker, principal: principalOf(authInfo), shutdown: opts.shutdown, calls }), {
    maxRequestBodySize: MAX_BODY,
    onerror: () => {},
  });
  // RFC 6750: a 401 names the scheme it wants, which MCP clients read.
  const challenge: MiddlewareHandler<E> = async (c, next) => {
    await next();
    if (c.res.status === 401) c.res.headers.set("WWW-Authenticate", 'Bearer realm="sandboxer"');
  };
  const limit = bodyLimit({ maxSize: MAX_BODY, onError: (c) => c.json(rpcError(-32600, `request body larger than ${MAX_BODY} bytes`), 413) });
  const route: MiddlewareHandler<E> = async (c) => {
    const principal = (c as unknown as { get(key: "principal"): Principal }).get("principal");
    const authInfo: AuthInfo = { token: principal.tokenId, clientId: principal.tokenId, scopes: [], extra: { principal } };
    // Parsed here, once: otherwise the SDK clones the body to classify it and parses it twice.
    let parsedBody: unknown;
    if (c.req.method === "POST") {
      const text = await c.req.text();
      try {
        parsedBody = text === "" ? undefined : JSON.parse(text);
      } catch {
        return c.json(rpcError(-32700, "Parse error: the request body is not valid JSON"), 400);
      }
    }
    return handler.fetch(c.req.raw, parsedBody === undefined ? { authInfo } : { authInfo, parsedBody });
  };
  app.all("/mcp", challenge, opts.authenticate, limit as MiddlewareHandler<E>, route);
  return {
    async close() {
      await Promise.allSettled([...calls]);
      await handler.close();
    },
  };
}
