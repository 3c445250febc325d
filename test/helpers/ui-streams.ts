/**
 * A browser's dashboard session over real HTTP (sign-in through the form, the
 * `sbx_ui` cookie) and the live streams it and API clients hold open, for
 * test/ui-stream-limits*.test.ts.
 */
import type { Reply } from "./session-limits.js";
import { cookieOf, csrfIn, uiRequest } from "./ui-http.js";

export interface HttpSession {
  cookie: string;
  csrf: string;
  get(path: string): Promise<Response>;
  post(path: string, form: Record<string, string>): Promise<Response>;
}

/** An open stream (200, its body being read) or the refusal (its JSON body); `close` hangs up, as a closed tab does. */
export interface Held extends Reply {
  type: string;
  close(): void;
  /** Settles when the server ends the body (or the client hung up). */
  ended: Promise<void>;
}

const send = uiRequest;

/** Sign in through GET and POST /ui/login, as the form does. */
export async function signInHttp(base: string, token: string): Promise<HttpSession> {
  const form = await send(base, "/ui/login", "");
  const loginCookie = cookieOf(form, "sbx_ui_login");
  const loginCsrf = csrfIn(await form.text());
  if (!loginCookie || !loginCsrf) throw new Error("login form without its CSRF cookie/field");
  const res = await send(base, "/ui/login", loginCookie, { _csrf: loginCsrf, token });
  await res.body?.cancel();
  const cookie = cookieOf(res, "sbx_ui");
  if (res.status !== 303 || !cookie) throw new Error(`sign-in failed: ${res.status}`);
  const csrf = csrfIn(await (await send(base, "/ui/sandboxes", cookie)).text());
  if (!csrf) throw new Error("no CSRF value on the page");
  return {
    cookie,
    csrf,
    get: (path) => send(base, path, cookie),
    post: (path, f) => send(base, path, cookie, { _csrf: csrf, ...f }),
  };
}

/** Open a stream as EventSource does; read it as a client does, so the server's writes never back up. */
export async function hold(url: string, headers: Record<string, string>): Promise<Held> {
  const abort = new AbortController();
  const res = await fetch(url, { headers: { Accept: "text/event-stream", ...headers }, signal: abort.signal });
  const type = res.headers.get("content-type") ?? "";
  if (res.status !== 200) {
    const text = await res.text();
    return { status: res.status, type, body: text ? JSON.parse(text) : {}, close: () => {}, ended: Promise.resolve() };
  }
  const ended = res.body ? res.body.pipeTo(new WritableStream()).catch(() => {}) : Promise.resolve();
  return { status: 200, type, body: {}, close: () => abort.abort(), ended };
}

/** A dashboard live stream of this session (`query` after `view=`). */
export const uiStream = (base: string, s: HttpSession, query: string): Promise<Held> => hold(`${base}/ui/stream?view=${query}`, { Cookie: s.cookie });

/** A live GET /v1/events stream of this bearer token. */
export const apiStream = (base: string, token: string): Promise<Held> => hold(`${base}/v1/events`, { Authorization: `Bearer ${token}` });
