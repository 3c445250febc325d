import { type Dialect, hostMarker, interpolate, isHostVar, type Lookup } from "./interpolate.js";

/**
 * A stack's `.env`, read the way the engines read it: `KEY=VALUE` lines, an
 * optional `export `, `#` comments, single quotes literal, double quotes with
 * escapes, unquoted values trimmed and cut at ` #`. Values may refer to earlier
 * keys: compose-go expands them with the compose syntax, python-dotenv (under
 * podman-compose) only `${NAME}` and `${NAME:-default}`.
 */
export interface DotEnv {
  vars: Map<string, string>;
  /** Every key the file sets, in order (for the rule on engine variables). */
  keys: string[];
}

const KEY_RE = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*/;
const DOTENV_REF = /\$\{([^}:]*)(?::-([^}]*))?\}/g;

function expand(value: string, vars: Map<string, string>, dialect: Dialect): string {
  const lookup: Lookup = (name) => (isHostVar(name) ? hostMarker(name) : vars.get(name));
  if (dialect === "spec") return interpolate(value, lookup, "spec");
  return value.replace(DOTENV_REF, (_m, name: string, dflt: string | undefined) => lookup(name) || (dflt ?? ""));
}

const ESCAPES: Record<string, string> = { n: "\n", t: "\t", r: "\r", '"': '"', "\\": "\\", $: "$$" };

export function parseDotEnv(text: string, dialect: Dialect): DotEnv {
  const vars = new Map<string, string>();
  const keys: string[] = [];
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n] as string;
    if (!line.trim() || line.trim().startsWith("#")) continue;
    const m = KEY_RE.exec(line);
    // A bare `KEY` takes the value from the environment, which the engine no longer has: unset.
    if (!m) continue;
    const key = m[1] as string;
    let rest = line.slice(m[0].length);
    let value: string;
    const quote = rest[0];
    if (quote === "'" || quote === '"') {
      // Quoted values may span lines: read on until the closing quote.
      let body = rest.slice(1);
      let close = findClose(body, quote);
      while (close < 0 && n + 1 < lines.length) {
        body += `\n${lines[++n]}`;
        close = findClose(body, quote);
      }
      body = close < 0 ? body : body.slice(0, close);
      value =
        quote === "'"
          ? body
          : expand(
              body.replace(/\\(.)/g, (_s, c: string) => ESCAPES[c] ?? `\\${c}`),
              vars,
              dialect,
            );
    } else {
      const hash = rest.search(/\s#/);
      if (hash >= 0) rest = rest.slice(0, hash);
      value = expand(rest.trim(), vars, dialect);
    }
    vars.set(key, value);
    keys.push(key);
  }
  return { vars, keys };
}

function findClose(body: string, quote: string): number {
  for (let i = 0; i < body.length; i++) {
    if (quote === '"' && body[i] === "\\") i++;
    else if (body[i] === quote) return i;
  }
  return -1;
}
