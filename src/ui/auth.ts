/**
 * Sign-in, sign-out, and the guards every dashboard request passes:
 * security headers, the session cookie, and CSRF on every state change.
 */
import type { Context, Hono, MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { SandboxerError } from "../errors.js";
import type { UiDeps, UiEnv } from "./deps.js";
import { loginPage } from "./pages/login.js";
import { LOGIN_COOKIE, randomId, SESSION_COOKIE, sameSecret } from "./session.js";

/** No inline script or style, nothing from elsewhere, no framing. */
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

export const securityHeaders: MiddlewareHandler<UiEnv> = async (c, next) => {
  await next();
  c.header("Content-Security-Policy", CSP);
  c.header("X-Content-Type-Options", "nosniff");
  c.header("X-Frame-Options", "DENY");
  c.header("Referrer-Policy", "same-origin");
  if (!c.res.headers.get("Cache-Control")) c.header("Cache-Control", "no-store");
};

/** Secure cookies when the browser reached us over TLS (directly or through a proxy that says so). */
export function overTls(c: Context): boolean {
  return new URL(c.req.url).protocol === "https:" || c.req.header("X-Forwarded-Proto") === "https";
}

const cookieOpts = (c: Context, maxAge?: number) => ({
  path: "/ui",
  httpOnly: true,
  sameSite: "Strict" as const,
  secure: overTls(c),
  ...(maxAge ? { maxAge } : {}),
});

export const themeOf = (c: Context): string | undefined => {
  const t = getCookie(c, "sbx_theme");
  return t === "light" || t === "dark" ? t : undefined;
};

/** A cross-site request never changes anything, whatever cookie it carries. */
function crossSite(c: Context): boolean {
  if (c.req.header("Sec-Fetch-Site") === "cross-site") return true;
  const origin = c.req.header("Origin");
  if (!origin || origin === "null") return origin === "null";
  return origin !== new URL(c.req.url).origin && origin.replace(/^https?:\/\//, "") !== (c.req.header("Host") ?? "");
}

/** Where to go after sign-in: a dashboard path only (never another site, never `//host`). */
export function safeNext(next: string | undefined): string {
  return next && /^\/ui\/[A-Za-z0-9/_.?&=%,-]*$/.test(next) && !next.includes("//") && next.length <= 500 ? next : "/ui/sandboxes";
}

async function formField(c: Context, name: string): Promise<string | undefined> {
  const type = c.req.header("Content-Type") ?? "";
  if (!type.startsWith("application/x-www-form-urlencoded") && !type.startsWith("multipart/form-data")) return undefined;
  const v = (await c.req.parseBody())[name];
  return typeof v === "string" ? v : undefined;
}

export function loginRoutes(ui: Hono<UiEnv>, d: UiDeps): void {
  const showLogin = (c: Context<UiEnv>, next: string, error?: string, status: 200 | 401 | 403 = 200) => {
    const csrf = randomId();
    setCookie(c, LOGIN_COOKIE, csrf, cookieOpts(c, 3600));
    return c.html(loginPage(csrf, safeNext(next), error, themeOf(c)).value, status);
  };
  ui.get("/login", (c) => showLogin(c, safeNext(c.req.query("next"))));
  ui.post("/login", async (c) => {
    const presented = await formField(c, "_csrf");
    const next = safeNext(await formField(c, "next"));
    if (crossSite(c) || !sameSecret(presented, getCookie(c, LOGIN_COOKIE)))
      return showLogin(c, next, "The sign-in form expired or came from another site; try again.", 403);
    const token = (await formField(c, "token")) ?? "";
    const made = token.length <= 200 ? await d.sessions.login(token) : null;
    // Never echo the token back: the form is rendered empty.
    if (!made) return showLogin(c, next, "That token is unknown, malformed or revoked.", 401);
    deleteCookie(c, LOGIN_COOKIE, { path: "/ui" });
    setCookie(c, SESSION_COOKIE, made.sid, cookieOpts(c));
    return c.redirect(next, 303);
  });
}

/** Every other /ui route needs a session; pages send the browser to the login form. */
export function requireSession(d: UiDeps): MiddlewareHandler<UiEnv> {
  return async (c, next) => {
    const sid = getCookie(c, SESSION_COOKIE) ?? "";
    const s = await d.sessions.resolve(sid);
    if (!s) {
      if (c.req.method === "GET" && !c.req.path.startsWith("/ui/stream")) {
        if (c.req.header("HX-Request")) {
          c.header("HX-Redirect", "/ui/login");
          return c.body(null, 401);
        }
        const here = new URL(c.req.url);
        const next = safeNext(here.pathname + here.search);
        return c.redirect(next === "/ui/sandboxes" ? "/ui/login" : `/ui/login?next=${encodeURIComponent(next)}`, 303);
      }
      throw new SandboxerError("SBX_UNAUTHORIZED", "not signed in (or the session ended): sign in at /ui/login");
    }
    c.set("sid", sid);
    c.set("principal", s.principal);
    c.set("viewer", { principal: s.principal, csrf: s.csrf, theme: themeOf(c) });
    if (c.req.method !== "GET" && c.req.method !== "HEAD") {
      const presented = c.req.header("X-CSRF-Token") ?? (await formField(c, "_csrf"));
      if (crossSite(c) || !sameSecret(presented, s.csrf))
        throw new SandboxerError("SBX_FORBIDDEN", "missing or wrong CSRF token: reload the page and try again");
    }
    await next();
  };
}

export function logoutRoute(ui: Hono<UiEnv>, d: UiDeps): void {
  ui.post("/logout", async (c) => {
    await d.sessions.logout(c.get("sid"));
    deleteCookie(c, SESSION_COOKIE, { path: "/ui" });
    return c.redirect("/ui/login", 303);
  });
}
