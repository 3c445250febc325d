/**
 * Streamable HTTP at `/mcp` on the API server: the same bearer tokens, rate
 * limit and tenancy as `/v1` (the API's own `authenticate` runs first), then
 * the SDK's per-request handler with a server bound to the token's principal.
 * Mounted ahead of the API's 64 KiB body limit: write_file content travels in
 * the JSON body, bounded here instead.
 */
import { type AuthInfo, createMcpHandler } from "@modelcontextprotocol/server";
import type { Context, Hono, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { SessionCaps } from "../api/session-caps.js";
import type { Principal } from "../api/tokens.js";
import type { Broker } from "../broker.js";
import { SandboxerError } from "../errors.js";
import { CallCancels } from "./cancels.js";
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
  /** Exchanges in progress per token and project (sessionLimits.mcp), and background processes. */
  caps: SessionCaps;
  /** The API's error answer (a refused exchange is the same 429 JSON as /v1's). */
  refuse(c: Context, err: SandboxerError): Response;
}

/** What the API app's context carries that the mount reads. */
export type McpVars = { Variables: { principal: Principal | null } };

export interface McpMount {
  /** End in-flight exchanges and wait for their tool calls to finish cleaning up. */
  close(): Promise<void>;
}

const rpcError = (code: number, message: string) => ({ jsonrpc: "2.0", id: null, error: { code, message } });

/**
 * One exchange's session slot, held by its response body and by each tool call
 * it started: a call that outlives its response (a client that went away, whose
 * exec is being stopped) keeps the slot until it has ended.
 */
function holder(release: () => void): { add(p: Promise<unknown>): void; end(): void } {
  let refs = 1;
  const drop = () => {
    refs -= 1;
    if (refs === 0) release();
  };
  let ended = false;
  return {
    add(p) {
      refs += 1;
      void p.finally(drop).catch(() => {});
    },
    end() {
      if (ended) return;
      ended = true;
      drop();
    },
  };
}

/** The same response, calling `done` once its body has been sent, failed or been cancelled (the client left). */
function untilSent(res: Response, done: () => void): Response {
  if (!res.body) {
    done();
    return res;
  }
  const reader = res.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      try {
        const r = await reader.read();
        if (r.done) {
          ctrl.close();
          done();
        } else ctrl.enqueue(r.value);
      } catch (err) {
        done();
        ctrl.error(err);
      }
    },
    async cancel(reason) {
      done();
      await reader.cancel(reason).catch(() => {});
    },
  });
  return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
}

function principalOf(auth: AuthInfo | undefined): Principal {
  const p = auth?.extra?.principal as Principal | undefined;
  // Only reachable past `authenticate`; without a principal, fail closed rather than serve as anyone.
  if (!p) throw new Error("MCP request without a verified principal");
  return p;
}

export function mountMcp<E extends McpVars>(app: Hono<E>, opts: McpMountOptions<E>): McpMount {
  // Tool calls outlive their HTTP response (an SSE stream answers at once): shutdown waits for these.
  const calls = new Set<Promise<unknown>>();
  const cancels = new CallCancels();
  const handler = createMcpHandler(
    ({ authInfo }) =>
      buildServer({
        broker: opts.broker,
        principal: principalOf(authInfo),
        shutdown: opts.shutdown,
        calls,
        caps: opts.caps,
        hold: authInfo?.extra?.hold as ((p: Promise<unknown>) => void) | undefined,
        cancelled: authInfo?.extra?.cancelled as AbortSignal | undefined,
      }),
    {
      maxRequestBodySize: MAX_BODY,
      onerror: () => {},
    },
  );
  // RFC 6750: a 401 names the scheme it wants, which MCP clients read.
  const challenge: MiddlewareHandler<E> = async (c, next) => {
    await next();
    if (c.res.status === 401) c.res.headers.set("WWW-Authenticate", 'Bearer realm="sandboxer"');
  };
  const limit = bodyLimit({ maxSize: MAX_BODY, onError: (c) => c.json(rpcError(-32600, `request body larger than ${MAX_BODY} bytes`), 413) });
  const route: MiddlewareHandler<E> = async (c) => {
    const principal = (c as unknown as { get(key: "principal"): Principal }).get("principal");
    // Only a POST starts an exchange: the SDK answers GET and DELETE at once (405), with no server instance.
    if (c.req.method !== "POST")
      return handler.fetch(c.req.raw, { authInfo: { token: principal.tokenId, clientId: principal.tokenId, scopes: [], extra: { principal } } });
    // Before the SDK sees the request: a refused exchange runs nothing.
    let slot: Awaited<ReturnType<SessionCaps["open"]>>;
    try {
      slot = await opts.caps.open("mcp", principal);
    } catch (err) {
      if (err instanceof SandboxerError) return opts.refuse(c, err);
      throw err;
    }
    let watch: ReturnType<CallCancels["track"]>;
    const held = holder(() => {
      slot.release();
      watch?.done();
    });
    let res: Response;
    try {
      // Parsed here, once: otherwise the SDK clones the body to classify it and parses it twice.
      let parsedBody: unknown;
      const text = await c.req.text();
      try {
        parsedBody = text === "" ? undefined : JSON.parse(text);
      } catch {
        held.end();
        return c.json(rpcError(-32700, "Parse error: the request body is not valid JSON"), 400);
      }
      // Its calls can be cancelled from another exchange (cancels.ts) until they have ended.
      cancels.cancel(principal.tokenId, parsedBody);
      watch = cancels.track(principal.tokenId, parsedBody);
      const extra = { principal, hold: held.add, ...(watch ? { cancelled: watch.signal } : {}) };
      const authInfo: AuthInfo = { token: principal.tokenId, clientId: principal.tokenId, scopes: [], extra };
      res = await handler.fetch(c.req.raw, parsedBody === undefined ? { authInfo } : { authInfo, parsedBody });
    } catch (err) {
      held.end();
      throw err;
    }
    return untilSent(res, () => held.end());
  };
  app.all("/mcp", challenge, opts.authenticate, limit as MiddlewareHandler<E>, route);
  return {
    async close() {
      await Promise.allSettled([...calls]);
      await handler.close();
    },
  };
}
