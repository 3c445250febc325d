import type { Sandbox } from "../../src/types.js";
import { type ApiFixture, apiFixture } from "./api.js";

/** A signed-in browser, in process: the session cookie and the page's CSRF value. */
export interface UiSession {
  cookie: string;
  csrf: string;
  get(path: string, headers?: Record<string, string>): Promise<Response>;
  post(path: string, form?: Record<string, string>, opts?: { csrf?: string | null; headers?: Record<string, string> }): Promise<Response>;
}

const cookieOf = (setCookie: string | null, name: string): string | undefined =>
  setCookie
    ?.split(/,(?=\s*[A-Za-z0-9_]+=)/)
    .map((x) => x.trim().split(";")[0] ?? "")
    .find((x) => x.startsWith(`${name}=`));

/** Sign in through GET /ui/login and POST /ui/login, as the form does. */
export async function uiLogin(fx: ApiFixture, token: string): Promise<UiSession> {
  const form = await fx.app.request("/ui/login");
  const loginCookie = cookieOf(form.headers.get("set-cookie"), "sbx_ui_login");
  const loginCsrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1];
  if (!loginCookie || !loginCsrf) throw new Error("login form without its CSRF cookie/field");
  const r = await fx.app.request("/ui/login", {
    method: "POST",
    headers: { Cookie: loginCookie, "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ _csrf: loginCsrf, token }).toString(),
  });
  const cookie = cookieOf(r.headers.get("set-cookie"), "sbx_ui");
  if (r.status !== 303 || !cookie) throw new Error(`login failed: ${r.status}`);
  const page = await (await fx.app.request("/ui/sandboxes", { headers: { Cookie: cookie } })).text();
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page)?.[1];
  if (!csrf) throw new Error("no CSRF value on the page");
  const s: UiSession = {
    cookie,
    csrf,
    get: (path, headers = {}) => Promise.resolve(fx.app.request(path, { headers: { Cookie: cookie, ...headers } })),
    post(path, f = {}, o = {}) {
      const body = new URLSearchParams(o.csrf === null ? f : { _csrf: o.csrf ?? csrf, ...f }).toString();
      return Promise.resolve(
        fx.app.request(path, { method: "POST", headers: { Cookie: cookie, "Content-Type": "application/x-www-form-urlencoded", ...(o.headers ?? {}) }, body }),
      );
    },
  };
  return s;
}

/** Read a Server-Sent Events response until `done` says so or `ms` pass; then cancel the stream. */
export async function readSse(res: Response, done: (text: string) => boolean, ms = 10_000): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return "";
  const decoder = new TextDecoder();
  let text = "";
  const deadline = Date.now() + ms;
  try {
    while (!done(text) && Date.now() < deadline) {
      const chunk = await Promise.race([reader.read(), new Promise<null>((r) => setTimeout(() => r(null), Math.max(1, deadline - Date.now())))]);
      if (chunk === null || chunk.done) break;
      text += decoder.decode(chunk.value, { stream: true });
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return text;
}

/** The `data` of every SSE message of one event type, parsed. */
export function sseMessages<T = Record<string, unknown>>(text: string, event: string): T[] {
  return text
    .split("\n\n")
    .filter((block) => block.split("\n").includes(`event: ${event}`))
    .map(
      (block) =>
        JSON.parse(
          block
            .split("\n")
            .filter((l) => l.startsWith("data:"))
            .map((l) => l.slice(5).trimStart())
            .join("\n"),
        ) as T,
    );
}

/** Two projects with a sandbox each (p2's has a snapshot), a metered ledger for both, and signed-in adm and p1 sessions. */
export interface UiWorld {
  fx: ApiFixture;
  adm: UiSession;
  p1: UiSession;
  mine: Sandbox;
  theirs: Sandbox;
  theirSnap: string;
  /** Every HTML body read through `text`: the token check runs over all of them. */
  served: string[];
  text(r: Response | Promise<Response>): Promise<string>;
}

export async function uiWorld(): Promise<UiWorld> {
  const fx = await apiFixture({ eventPollMs: 20 });
  for (const project of ["p1", "p2"]) {
    const r = await fx.call("POST", "/v1/credits", { body: { amount: 50, project } });
    if (r.status !== 200) throw new Error(`credits add: ${r.status}`);
  }
  const mine = await fx.broker.create({ profile: "profile.local", project: "p1", actor: "agt" });
  const theirs = await fx.broker.create({ profile: "profile.local", project: "p2", actor: "agt" });
  const theirSnap = (await fx.broker.snapshot(theirs.id, { name: "p2-secret-snap" })).id;
  // Metered: a ledger with reserve, debit and release for each project.
  for (const project of ["p1", "p2"]) {
    const sb = await fx.broker.create({ profile: "profile.saas-stub", project, actor: "agt" });
    await fx.broker.destroy(sb.id);
  }
  const served: string[] = [];
  return {
    fx,
    adm: await uiLogin(fx, fx.tokens.adm),
    p1: await uiLogin(fx, fx.tokens.p1),
    mine,
    theirs,
    theirSnap,
    served,
    async text(r) {
      const t = await (await r).text();
      served.push(t);
      return t;
    },
  };
}
