/**
 * Label and field selectors as the API server parses them from a list or
 * watch query: `a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x)`;
 * fields: `metadata.name=` and `metadata.namespace=` (what these kinds support).
 */

type Req = { key: string; op: "=" | "!=" | "exists" | "!exists" | "in" | "notin"; values: string[] };
export interface Selector {
  labels: Req[];
  fields: { path: "metadata.name" | "metadata.namespace"; op: "=" | "!="; value: string }[];
}

export class SelectorError extends Error {}

/** Split on commas that are not inside parentheses. */
function terms(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of s) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur);
  return out.map((t) => t.trim()).filter(Boolean);
}

const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

function parseLabel(t: string): Req {
  let m = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(t);
  if (m) return { key: m[1] as string, op: m[2] as "in" | "notin", values: (m[3] as string).split(",").map((v) => v.trim()) };
  m = /^(!?)([^=!\s]+)$/.exec(t);
  if (m) return { key: m[2] as string, op: m[1] ? "!exists" : "exists", values: [] };
  m = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(t);
  if (m) return { key: m[1] as string, op: m[2] === "!=" ? "!=" : "=", values: [m[3] as string] };
  throw new SelectorError(`unable to parse requirement: ${t}`);
}

export function parseSelectors(labelSelector: string | null, fieldSelector: string | null): Selector {
  const labels = terms(labelSelector ?? "").map(parseLabel);
  for (const r of labels) if (!LABEL_KEY.test(r.key)) throw new SelectorError(`invalid label key "${r.key}"`);
  const fields = terms(fieldSelector ?? "").map((t) => {
    const m = /^(metadata\.name|metadata\.namespace)\s*(==|=|!=)\s*(.*)$/.exec(t);
    if (!m) throw new SelectorError(`field label not supported: ${t.split(/[=!]/)[0]}`);
    return { path: m[1] as "metadata.name" | "metadata.namespace", op: m[2] === "!=" ? ("!=" as const) : ("=" as const), value: m[3] as string };
  });
  return { labels, fields };
}

export const EVERYTHING: Selector = { labels: [], fields: [] };

export function matches(o: { metadata: { name: string; namespace: string; labels?: Record<string, string> } }, sel: Selector): boolean {
  const labels = o.metadata.labels ?? {};
  for (const r of sel.labels) {
    const has = Object.hasOwn(labels, r.key);
    const v = labels[r.key];
    const ok =
      r.op === "exists"
        ? has
        : r.op === "!exists"
          ? !has
          : r.op === "="
            ? v === r.values[0]
            : r.op === "!="
              ? v !== r.values[0]
              : r.op === "in"
                ? has && r.values.includes(v as string)
                : !has || !r.values.includes(v as string);
    if (!ok) return false;
  }
  for (const f of sel.fields) {
    const v = f.path === "metadata.name" ? o.metadata.name : o.metadata.namespace;
    if ((v === f.value) !== (f.op === "=")) return false;
  }
  return true;
}
