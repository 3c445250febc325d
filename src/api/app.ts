import { type Context, Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { z } from "zod";
import type { Broker } from "../broker.js";
import { ERROR_CATALOG, SandboxerError, toSandboxerError } from "../errors.js";
import { mountMcp } from "../mcp/http.js";
import { redactText } from "../tenancy/view.js";
import { dashboard } from "../ui/index.js";
import { batchedLog, requestIds } from "./access-log.js";
import { DOCS_HTML } from "./docs-page.js";
import { openApiDocument } from "./openapi.js";
import { RateLimiter } from "./rate-limit.js";
import { SessionCaps } from "./session-caps.js";
import { creditRoutes } from "./routes-credits.js";
import { eventRoutes } from "./routes-events.js";
import { fileRoutes } from "./routes-files.js";
import { processRoutes } from "./routes-processes.js";
import { otherRoutes } from "./routes-other.js";
import { poolRoutes } from "./routes-pools.js";
import { sandboxRoutes } from "./routes-sandboxes.js";
import { snapshotRoutes } from "./routes-snapshots.js";
import { terminalRoutes } from "./routes-terminal.js";
import type { AnyRoute, ApiOptions, AppState } from "./spec.js";
import type { Principal } from "./tokens.js";

export type { ApiOptions } from "./spec.js";

/** Every route the server answers, in document order. */
export const ROUTES: readonly AnyRoute[] = [
  ...sandboxRoutes,
  ...terminalRoutes,
  ...fileRoutes,
  ...processRoutes,
  ...snapshotRoutes,
  ...creditRoutes,
  ...poolRoutes,
  ...otherRoutes,
  ...eventRoutes,
];

/** The one route whose body is streamed, not held (PUT /v1/sandboxes/{id}/files). */
const STREAMED_BODY = /^\/v1\/sandboxes\/[^/]+\/files$/;

type Vars = { Variables: { principal: Principal | null; reqId: string } };

function errorResponse(c: Context, err: SandboxerError, headers: Record<string, string> = {}): Response {
  for (const [k, v] of Object.entries(headers)) c.header(k, v);
  // 499 is not a status every client library accepts as a response; the code says what happened.
  const status = ERROR_CATALOG[err.code].http;
  return c.json({ error: { code: err.code, message: err.message } }, (status === 499 ? 500 : status) as 500);
}

function invalid(where: string, error: z.ZodError): SandboxerError {
  const text = error.issues
    .slice(0, 5)
    .map((i) => `${[where, ...i.path.map(String)].join(".")}: ${i.message}`)
    .join("; ");
  return new SandboxerError("SBX_USAGE", text, { details: { field: where } });
}

function parse<T>(where: string, schema: z.ZodType<T> | undefined, raw: unknown): T {
  if (!schema) return {} as T;
  const r = schema.safeParse(raw);
  if (!r.success) throw invalid(where, r.error);
  return r.data;
}

async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new SandboxerError("SBX_USAGE", `body: not valid JSON (${(err as Error).message})`, { details: { field: "body" } });
  }
}

export interface CreatedApp {
  app: Hono<Vars>;
  state: AppState;
  /** Abort SSE streams and background creates, then wait for those creates to clean up. */
  shutdown(): Promise<void>;
}

/** The HTTP API over one broker. Routes only call the broker. */
export function createApp(broker: Broker, opts: ApiOptions = {}): CreatedApp {
  const controller = new AbortController();
  const state: AppState = {
    broker,
    background: new Set(),
    shutdown: controller.signal,
    caps: new SessionCaps(broker),
    options: {
      bodyLimit: opts.bodyLimit ?? 64 * 1024,
      rateLimit: opts.rateLimit ?? 50,
      rateBurst: opts.rateBurst ?? 100,
      eventPollMs: opts.eventPollMs ?? 100,
      accessLog: opts.accessLog,
    },
  };
  const limiter = new RateLimiter(state.options.rateLimit, state.options.rateBurst);
  const sink = state.options.accessLog ? undefined : batchedLog();
  const log = state.options.accessLog ?? (sink as ReturnType<typeof batchedLog>).log;
  const nextId = requestIds();
  const app = new Hono<Vars>();
  const inflight = new Set<Promise<unknown>>();

  // Access log: who did what, how long it took; never headers, bodies or query strings.
  app.use(async (c, next) => {
    const started = performance.now();
    const reqId = c.req.header("X-Request-Id")?.match(/^[A-Za-z0-9_.-]{1,64}$/)?.[0] ?? nextId();
    c.set("reqId", reqId);
    c.set("principal", null);
    // Before the response exists: a header set afterwards makes Hono rebuild the response as a stream.
    c.header("X-Request-Id", reqId);
    await next();
    // /mcp returns the transport's own Response, which bypasses the prepared headers: add it there, in place.
    // (Only there: asking any other response for its headers would build them again, on every read.)
    if (c.req.path === "/mcp" && !c.res.headers.has("X-Request-Id")) {
      try {
        c.res.headers.set("X-Request-Id", reqId);
      } catch {
        // immutable headers (a proxied response): it goes without
      }
    }
    const p = c.get("principal");
    log(
      JSON.stringify({
        at: new Date().toISOString(),
        reqId,
        method: c.req.method,
        path: c.req.path.slice(0, 200),
        status: c.res.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
        token: p?.tokenId ?? null,
        actor: p?.actor ?? null,
        project: p?.project ?? null,
      }),
    );
  });

  // MCP over Streamable HTTP (src/mcp/http.ts): the same tokens, rate limit and tenancy; ahead of the body limit (it sets its own).
  const mcp = mountMcp(app, {
    broker,
    authenticate: (c, next) => authenticate(c, next),
    shutdown: controller.signal,
    caps: state.caps,
    refuse: (c, err) => errorResponse(c, err),
  });

  const limitBody = bodyLimit({
    maxSize: state.options.bodyLimit,
    onError: (c) =>
      errorResponse(c, new SandboxerError("SBX_USAGE", `body: larger than the limit of ${state.options.bodyLimit} bytes`, { details: { field: "body" } })),
  });
  // File uploads stream to the sandbox under the profile's own limit (files.maxUpload); every other body keeps this one.
  // GET and HEAD carry no body; asking for one would make the Node adapter build a full Request per read.
  app.use("*", (c, next) =>
    c.req.method === "GET" || c.req.method === "HEAD" || (c.req.method === "PUT" && STREAMED_BODY.test(c.req.path)) ? next() : limitBody(c, next),
  );

  const authenticate: MiddlewareHandler<Vars> = async (c, next) => {
    const auth = c.req.header("Authorization") ?? "";
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    if (!m?.[1]) {
      throw new SandboxerError("SBX_UNAUTHORIZED", "missing bearer token: send 'Authorization: Bearer <token>' (see: sandboxer tokens create)");
    }
    const principal = await broker.verifyToken(m[1]);
    if (!principal) throw new SandboxerError("SBX_UNAUTHORIZED", "the bearer token is unknown or revoked");
    c.set("principal", principal);
    const wait = limiter.take(principal.tokenId);
    if (wait > 0)
      return errorResponse(
        c,
        new SandboxerError("SBX_RATE_LIMITED", `rate limit of ${state.options.rateLimit} requests/s for this token exceeded; retry in ${wait}s`),
        { "Retry-After": String(wait) },
      );
    await next();
  };
  app.use("/v1/*", authenticate);

  for (const route of ROUTES) {
    const honoPath = route.path.replace(/\{(\w+)\}/g, ":$1");
    app.on(route.method.toUpperCase(), honoPath, async (c) => {
      const principal = c.get("principal");
      if (route.auth === "adm" && principal?.actor !== "adm")
        throw new SandboxerError("SBX_FORBIDDEN", `${route.operationId} is for operator (adm) tokens only`);
      const params = parse("path", route.params, c.req.param());
      const query = parse("query", route.query, c.req.query());
      const body = route.body ? parse("body", route.body, await readJson(c)) : undefined;
      // Tracked so shutdown waits for a destroy or create in progress instead of closing the store under it.
      const handling = Promise.resolve(route.handle({ c, state, principal: principal as Principal, params, query, body }));
      inflight.add(handling);
      const reply = await handling.finally(() => inflight.delete(handling));
      if (reply instanceof Response) return reply;
      for (const [k, v] of Object.entries(reply.headers ?? {})) c.header(k, v);
      return c.json(reply.body as object, reply.status as 200);
    });
  }

  // Built once per origin the server is reached by (the document names it under `servers`).
  const documents = new Map<string, Record<string, unknown>>();
  app.get("/openapi.json", (c) => {
    const origin = new URL(c.req.url).origin;
    if (!documents.has(origin) && documents.size < 16) documents.set(origin, openApiDocument(ROUTES, origin));
    return c.json(documents.get(origin) ?? openApiDocument(ROUTES, origin));
  });
  app.get("/docs", (c) => c.html(DOCS_HTML));
  // The operator dashboard (src/ui/): same broker, tokens and tenancy as the routes above.
  app.route("/ui", dashboard(state).app);
  app.notFound((c) => errorResponse(c, new SandboxerError("SBX_NOT_FOUND", `no route ${c.req.method} ${c.req.path.slice(0, 200)} (see /openapi.json)`)));
  app.onError((err, c) => {
    const e = toSandboxerError(err);
    if (e.code === "SBX_INTERNAL") {
      log(
        JSON.stringify({
          at: new Date().toISOString(),
          reqId: c.get("reqId"),
          level: "error",
          message: e.message,
          stack: (err as Error).stack?.split("\n").slice(0, 6),
        }),
      );
      return errorResponse(c, new SandboxerError("SBX_INTERNAL", `internal error (request ${c.get("reqId")}); see the server log`));
    }
    // Tenants get error messages without server paths (a failed provision may quote a log or a directory).
    const p = c.get("principal");
    return errorResponse(c, p && p.actor !== "adm" ? new SandboxerError(e.code, redactText(e.message), { details: e.details }) : e);
  });

  return {
    app,
    state,
    async shutdown() {
      controller.abort();
      await Promise.allSettled([...state.background, ...inflight, mcp.close()]);
      sink?.flush();
    },
  };
}
