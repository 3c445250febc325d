/**
 * The operator dashboard, served by `sandboxer serve` at /ui: server-rendered
 * HTML, htmx from node_modules, and Server-Sent Events for the live parts.
 * Same process, same broker, same tokens and tenancy as the HTTP API.
 * docs/ui.md explains the choices.
 */
import { Hono } from "hono";
import type { AppState } from "../api/spec.js";
import type { Env } from "../config.js";
import { ERROR_CATALOG, SandboxerError, toSandboxerError } from "../errors.js";
import { assets } from "./assets.js";
import { loginRoutes, logoutRoute, requireSession, securityHeaders, themeOf } from "./auth.js";
import type { UiDeps, UiEnv } from "./deps.js";
import { errorPage } from "./pages/login.js";
import { pageRoutes } from "./routes.js";
import { poolRoutes } from "./routes-pools.js";
import { SeqTracker } from "./seq.js";
import { type SessionOptions, Sessions } from "./session.js";
import { streamHandler } from "./stream.js";
import { messageFor } from "./view.js";

export interface DashboardOptions {
  env?: Env;
  sessions?: SessionOptions;
}

export interface Dashboard {
  app: Hono<UiEnv>;
  deps: UiDeps;
}

/** The /ui sub-application over the API's state; mount with `app.route("/ui", dashboard(state).app)`. */
export function dashboard(state: AppState, opts: DashboardOptions = {}): Dashboard {
  const deps: UiDeps = {
    state,
    env: opts.env ?? process.env,
    // In the store, not in this process: every replica on the database resolves every session.
    sessions: new Sessions(
      { verify: (token) => state.broker.verifyToken(token), principal: (id) => state.broker.tokenPrincipal(id), rows: state.broker.uiSessions },
      opts.sessions,
    ),
    seq: new SeqTracker((o) => state.broker.events(o)),
  };
  const ui = new Hono<UiEnv>();
  const log = state.options.accessLog ?? ((line: string) => process.stderr.write(`${line}\n`));
  ui.use(securityHeaders);

  ui.get("/assets/:name", (c) => {
    const a = assets().get(c.req.param("name"));
    if (!a) throw new SandboxerError("SBX_NOT_FOUND", "no such asset");
    const etag = `"${a.hash}"`;
    // Hashed URLs never change content: cache for a year; unhashed ones revalidate.
    c.header("Cache-Control", c.req.query("v") === a.hash ? "public, max-age=31536000, immutable" : "no-cache");
    c.header("ETag", etag);
    if (c.req.header("If-None-Match") === etag) return c.body(null, 304);
    c.header("Content-Type", a.type);
    return c.body(new Uint8Array(a.body));
  });

  loginRoutes(ui, deps);
  ui.use("*", requireSession(deps));
  logoutRoute(ui, deps);
  ui.get("/stream", (c) => streamHandler(deps, c));
  pageRoutes(ui, deps);
  poolRoutes(ui, deps);
  ui.all("*", () => {
    throw new SandboxerError("SBX_NOT_FOUND", "no such page");
  });

  ui.onError((err, c) => {
    const e = toSandboxerError(err);
    const status = ERROR_CATALOG[e.code].http;
    const shown = status === 499 || status >= 500 ? 500 : status;
    const message = shown === 500 ? `internal error (request ${c.get("reqId") ?? "-"}); see the server log` : messageFor(c.get("principal") ?? null, e.message);
    if (shown === 500)
      log(
        JSON.stringify({
          at: new Date().toISOString(),
          reqId: c.get("reqId"),
          level: "error",
          message: e.message,
          stack: (err as Error).stack?.split("\n").slice(0, 6),
        }),
      );
    // The stream is read by EventSource, not shown: its refusals (bad input, 404, 429 SBX_SESSION_LIMIT) are the API's JSON error.
    if (c.req.path === "/ui/stream") return c.json({ error: { code: e.code, message } }, shown as 400);
    // The unauthenticated see the bare page; a 404 never says whether the id exists elsewhere.
    let viewer = null;
    try {
      viewer = c.get("viewer") ?? null;
    } catch {
      viewer = null;
    }
    return c.html(errorPage(viewer, shown, e.code, message, themeOf(c)).value, shown as 400);
  });
  return { app: ui, deps };
}
