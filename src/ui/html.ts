/**
 * A tiny escaping template tag: every interpolated value is HTML-escaped
 * unless it is itself `Html` (built by this tag or by `raw`). Synchronous on
 * purpose: pages are rendered from data already awaited, so no promise
 * typing leaks into every component.
 */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const NEEDS = /[&<>"']/;

export function escapeHtml(text: string): string {
  return NEEDS.test(text) ? text.replace(/[&<>"']/g, (ch) => ESCAPES[ch] ?? ch) : text;
}

type Part = Html | string | number | boolean | null | undefined | readonly Part[];

function append(out: string[], v: Part): void {
  if (v === null || v === undefined || v === false || v === true) return;
  if (v instanceof Html) out.push(v.value);
  else if (Array.isArray(v)) for (const x of v as readonly Part[]) append(out, x);
  else out.push(escapeHtml(String(v)));
}

export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  const out: string[] = [];
  for (let i = 0; i < strings.length; i++) {
    out.push(strings[i] ?? "");
    if (i < values.length) append(out, values[i]);
  }
  return new Html(out.join(""));
}

/** Trusted markup only (our own constants, never user data). */
export const raw = (text: string): Html => new Html(text);

/** JSON for a `<script type="application/json">` or a data attribute: `<` can never close the element. */
export const jsonText = (value: unknown): string => JSON.stringify(value).replace(/</g, "\\u003c");
