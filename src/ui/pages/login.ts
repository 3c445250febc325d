/** The login form (a field named `token`) and the error page. */
import { type Html, html } from "../html.js";
import { barePage, notice, page, type Viewer } from "../layout.js";

export function loginPage(loginCsrf: string, next: string, error: string | undefined, theme: string | undefined): Html {
  const body = html`<div class="login">
<h1><span class="brand"><span class="logo" aria-hidden="true"></span>sand-boxer</span></h1>
<p class="sub">Operator dashboard. Sign in with an API token (<code>sandboxer tokens create --actor adm</code>).</p>
${error ? notice("bad", error) : ""}
<form class="panel" method="post" action="/ui/login">
<input type="hidden" name="_csrf" value="${loginCsrf}">
${next !== "/ui/sandboxes" ? html`<input type="hidden" name="next" value="${next}">` : ""}
<label class="field" for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required autofocus placeholder="sbx_tok-…">
<button type="submit" class="primary">Sign in</button>
<p class="muted small">The token stays on the server; this browser keeps only a session cookie.</p>
</form>
</div>`;
  return barePage("Sign in", body, theme);
}

export function errorPage(v: Viewer | null, status: number, code: string, message: string, theme: string | undefined): Html {
  const title = status === 404 ? "Not found" : status === 403 ? "Refused" : status >= 500 ? "Something went wrong" : "Cannot do that";
  const body = html`<div class="head"><div><h1>${title}</h1><p class="sub"><code>${code}</code></p></div></div>
${notice("bad", message)}
<p><a href="/ui/sandboxes">Back to sandboxes</a></p>`;
  return v ? page(v, title, body, { section: "" }) : barePage(title, body, theme);
}
