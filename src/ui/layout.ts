/** The page shell: head, top bar with navigation, and the main landmark. */
import type { Principal } from "../api/tokens.js";
import { assetUrl } from "./assets.js";
import { type Html, html, jsonText, raw } from "./html.js";

export interface Viewer {
  principal: Principal;
  /** This session's CSRF value: in a header for htmx, in a hidden field for plain forms. */
  csrf: string;
  /** "light" | "dark" from the sbx_theme cookie; undefined follows the system. */
  theme: string | undefined;
}

/** [href, label, operators only]: pools belong to no project, so tenants have no such page. */
const NAV: [string, string, boolean][] = [
  ["/ui/sandboxes", "Sandboxes", false],
  ["/ui/hosts", "Hosts", false],
  ["/ui/pools", "Pools", true],
  ["/ui/credits", "Credits", false],
  ["/ui/snapshots", "Snapshots", false],
  ["/ui/catalog", "Profiles & extensions", false],
  ["/ui/events", "Events", false],
];

/** htmx without eval and without the inline style it would inject (the CSP allows neither). */
const HTMX_CONFIG = jsonText({
  includeIndicatorStyles: false,
  allowEval: false,
  allowScriptTags: false,
  historyCacheSize: 0,
  responseHandling: [
    { code: "204", swap: false },
    { code: "...", swap: true },
  ],
});

function head(title: string): Html {
  return html`<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="htmx-config" content="${HTMX_CONFIG}">
<title>${title} · sand-boxer</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${assetUrl("app.css")}">
<script src="${assetUrl("htmx.min.js")}" defer></script>
<script src="${assetUrl("app.js")}" defer></script>`;
}

const themeAttr = (theme: string | undefined) => (theme === "light" || theme === "dark" ? raw(` data-theme="${theme}"`) : "");

export const csrfField = (v: Viewer): Html => html`<input type="hidden" name="_csrf" value="${v.csrf}">`;

export function who(p: Principal): string {
  return p.actor === "adm" ? "operator (adm)" : `${p.actor} · ${p.project ?? "-"}`;
}

export interface PageOptions {
  /** The nav entry to mark current. */
  section: string;
  /** SSE URL this page follows (app.js connects when present). */
  stream?: string | undefined;
  /** Where app.js re-fetches this page's live panes when the stream says something changed. */
  panes?: string | undefined;
}

export function page(v: Viewer, title: string, body: Html, opts: PageOptions): Html {
  return html`<!doctype html>
<html lang="en"${themeAttr(v.theme)}>
<head>${head(title)}</head>
<body hx-headers="${jsonText({ "X-CSRF-Token": v.csrf })}">
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <a class="brand" href="/ui/sandboxes"><span class="logo" aria-hidden="true"></span>sand-boxer</a>
  <nav class="nav" aria-label="Sections">
    ${NAV.filter(([, , adm]) => !adm || v.principal.actor === "adm").map(([href, label]) => html`<a href="${href}"${href === opts.section ? raw(' aria-current="page"') : ""}>${label}</a>`)}
  </nav>
  <div class="who">
    <span class="live-ind" title="Following the event stream">live</span>
    <span class="live-off-ind" title="The server refused this page's live updates (too many open live views or event streams for this token or project, or the session ended); reload to try again">not live</span>
    <span title="signed in as">${who(v.principal)}</span>
    <button type="button" data-theme-toggle title="Switch light/dark" aria-label="Switch light or dark theme">◐<span class="hide-narrow">Theme</span></button>
    <form class="inline" method="post" action="/ui/logout">${csrfField(v)}<button type="submit">Sign out</button></form>
  </div>
</header>
<main id="main" tabindex="-1"${opts.stream ? html` data-stream="${opts.stream}"` : ""}${opts.panes ? html` data-panes="${opts.panes}"` : ""}>
${body}
</main>
</body>
</html>`;
}

/** A page without a session: the login form and its errors. */
export function barePage(title: string, body: Html, theme: string | undefined): Html {
  return html`<!doctype html>
<html lang="en"${themeAttr(theme)}>
<head>${head(title)}</head>
<body>
<main id="main">${body}</main>
</body>
</html>`;
}

export function stateBadge(state: string, tone: string): Html {
  return html`<span class="st st-${tone}" data-state="${state}">${state}</span>`;
}

export function notice(kind: "ok" | "bad", text: string): Html {
  return html`<div class="notice ${kind}" role="${kind === "bad" ? "alert" : "status"}">${text}</div>`;
}
