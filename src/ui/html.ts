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

function partText(v: Part): string {
  if (v === null || v === undefined || v === false || v === true) return "";
  if (typeof v === "string") return escapeHtml(v);
  if (v instanceof Html) return v.value;
  if (typeof v === "number") return String(v);
  let out = "";
  for (const x of v as readonly Part[]) out += partText(x);
  return out;
}

export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  // String concatenation: V8 builds ropes, cheaper than collecting an array to join (pages render 100+ rows).
  let out = strings[0] ?? "";
  for (let i = 0; i < values.length; i++) out += partText(values[i]) + (strings[i + 1] ?? "");
  return new Html(out);
}

/** Trusted markup only (our own constants, never user data). */
export const raw = (text: string): Html => new Html(text);

/** JSON for a `<script type="application/json">` or a data attribute: `<` can never close the element. */
export const jsonText = (value: unknown): string => JSON.stringify(value).replace(/</g, "\\u003c");
