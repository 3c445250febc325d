/**
 * Variable interpolation as the compose engines do it, so the policy checks the
 * stack the engine will run rather than the text the tenant wrote.
 *
 * Two engines, two dialects, and the checker runs both (a stack is refused if
 * either reading breaks a rule):
 * - `spec`: the Compose specification (docker compose): `$VAR`, `${VAR}`,
 *   `${VAR:-d}`, `${VAR-d}`, `${VAR:?e}`, `${VAR?e}`, `${VAR:+r}`, `${VAR+r}`,
 *   defaults nest, `$$` is a `$`.
 * - `podman`: podman-compose 1.0's single regex pass: `:-` and `-` both mean
 *   "unset" (an empty value stays empty), defaults do not nest, no `:+`.
 *
 * Values come from the stack's own `.env` only. The engine's environment is cut
 * down to HOST_VARS before `up` (see UP in scripts.ts); a reference to one of
 * those names is a value only the host knows, so it interpolates to a marker
 * and any rule that meets a marker refuses.
 */
export type Dialect = "spec" | "podman";
export const DIALECTS: readonly Dialect[] = ["spec", "podman"];

/** Names the engine still sees from the host (plus anything with these prefixes). */
export const HOST_VARS = [
  "PATH",
  "HOME",
  "USER",
  "LOGNAME",
  "SHELL",
  "LANG",
  "LANGUAGE",
  "TZ",
  "TMPDIR",
  "TERM",
  "XDG_RUNTIME_DIR",
  "XDG_CONFIG_HOME",
  "XDG_DATA_HOME",
  "XDG_CACHE_HOME",
  "DBUS_SESSION_BUS_ADDRESS",
  "REGISTRY_AUTH_FILE",
  "CONTAINER_HOST",
  "CONTAINER_CONNECTION",
  "CONTAINER_SSHKEY",
  "http_proxy",
  "https_proxy",
  "no_proxy",
  "all_proxy",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "ALL_PROXY",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  "PYTHONPATH",
  "PYTHONHOME",
  "VIRTUAL_ENV",
  "LD_LIBRARY_PATH",
] as const;
export const HOST_VAR_PREFIXES = ["LC_", "DOCKER_", "CONTAINERS_", "COMPOSE_", "BUILDX_", "BUILDKIT_", "PODMAN_"] as const;
const HOST_SET = new Set<string>(HOST_VARS);

export function isHostVar(name: string): boolean {
  return HOST_SET.has(name) || HOST_VAR_PREFIXES.some((p) => name.startsWith(p));
}

const MARK = "\uE000";
/** The text a host-only variable interpolates to. */
export function hostMarker(name: string): string {
  return `${MARK}${name}${MARK}`;
}
/** Host-only variables a value depends on (empty when it depends on none). */
export function hostVarsIn(value: string): string[] {
  if (!value.includes(MARK)) return [];
  const out: string[] = [];
  const re = /\uE000([^\uE000]*)\uE000/g;
  for (let m = re.exec(value); m; m = re.exec(value)) out.push(m[1] ?? "");
  return out;
}
/** Show a value with host markers as the `${NAME}` the tenant wrote. */
export function showValue(value: string): string {
  return value.replace(/\uE000([^\uE000]*)\uE000/g, "$${$1}");
}

/** What a name means to the engine: the .env value, a host marker, or unset. */
export type Lookup = (name: string) => string | undefined;

export function lookupIn(vars: ReadonlyMap<string, string>): Lookup {
  return (name) => (isHostVar(name) ? hostMarker(name) : vars.get(name));
}

const NAME_RE = /^[_a-zA-Z][_a-zA-Z0-9]*/;

/** Index of the `}` closing a `${` whose body starts at `from`, honouring nested `${...}`. */
function closing(s: string, from: number): number {
  let depth = 1;
  for (let i = from; i < s.length; i++) {
    if (s[i] === "$" && s[i + 1] === "$") i++;
    else if (s[i] === "$" && s[i + 1] === "{") {
      depth++;
      i++;
    } else if (s[i] === "}" && --depth === 0) return i;
  }
  return -1;
}

function spec(s: string, lookup: Lookup): string {
  if (!s.includes("$")) return s;
  let out = "";
  let i = 0;
  while (i < s.length) {
    const c = s[i] as string;
    if (c !== "$") {
      out += c;
      i++;
      continue;
    }
    const next = s[i + 1];
    if (next === "$") {
      out += "$";
      i += 2;
      continue;
    }
    if (next !== "{") {
      const name = NAME_RE.exec(s.slice(i + 1))?.[0];
      // A lone `$` is an error for docker and a literal for podman-compose: keep it literal.
      if (!name) {
        out += "$";
        i++;
        continue;
      }
      out += lookup(name) ?? "";
      i += 1 + name.length;
      continue;
    }
    const end = closing(s, i + 2);
    const name = NAME_RE.exec(s.slice(i + 2))?.[0];
    if (end < 0 || !name) {
      out += "$";
      i++;
      continue;
    }
    const rest = s.slice(i + 2 + name.length, end);
    const op = /^(:-|-|:\?|\?|:\+|\+)?/.exec(rest)?.[1] ?? "";
    const arg = rest.slice(op.length);
    if (!op && arg) {
      // malformed `${NAME junk}`: an error for docker, literal text for podman-compose.
      out += "$";
      i++;
      continue;
    }
    i = end + 1;
    const value = lookup(name);
    // A host-only variable: whatever the operator means, only the host knows the outcome.
    if (value !== undefined && hostVarsIn(value).length && op) {
      out += value;
      continue;
    }
    const empty = value === undefined || value === "";
    switch (op) {
      case ":-":
        out += empty ? spec(arg, lookup) : value;
        break;
      case "-":
        out += value === undefined ? spec(arg, lookup) : value;
        break;
      case ":+":
        out += empty ? "" : spec(arg, lookup);
        break;
      case "+":
        out += value === undefined ? "" : spec(arg, lookup);
        break;
      default:
        // `:?` / `?` unset: the engine refuses to start, so nothing it would run is left to check.
        out += value ?? "";
    }
  }
  return out;
}

const PODMAN_RE = /\$(?:(\$)|([_a-zA-Z][_a-zA-Z0-9]*)|\{([_a-zA-Z][_a-zA-Z0-9]*)(?::?-([^}]+)|:?\?([^}]+))?\})/g;

function podman(s: string, lookup: Lookup): string {
  if (!s.includes("$")) return s;
  return s.replace(PODMAN_RE, (_m, escaped: string | undefined, named: string | undefined, braced: string | undefined, dflt: string | undefined) => {
    if (escaped !== undefined) return "$";
    const value = lookup((named ?? braced) as string);
    if (value !== undefined) return value;
    return dflt ?? "";
  });
}

/** Interpolate one string in a dialect. */
export function interpolate(s: string, lookup: Lookup, dialect: Dialect): string {
  return dialect === "spec" ? spec(s, lookup) : podman(s, lookup);
}

/** Interpolate every string VALUE of a parsed document (keys are left alone, as both engines do). */
export function interpolateDeep(value: unknown, lookup: Lookup, dialect: Dialect): unknown {
  if (typeof value === "string") return interpolate(value, lookup, dialect);
  if (Array.isArray(value)) return value.map((v) => interpolateDeep(v, lookup, dialect));
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolateDeep(v, lookup, dialect);
    return out;
  }
  return value;
}
