/**
 * `packer_var_*` values travel to Packer in a generated var file (HCL), never
 * as `-var` argv: they may be secrets (every one is, src/tenancy/secrets.ts),
 * and `ps` shows argv to every user of the machine. A value may be any HCL
 * literal: a list (`["a", "b"]`), a map (`{ a = 1 }`), a quoted string;
 * anything else is a plain string. Only literals are written back, re-quoted:
 * no interpolation (`${...}`), function call or variable ever reaches Packer.
 */
import { SandboxerError } from "../../errors.js";

export const PACKER_VAR_PREFIX = "packer_var_";

class Bad extends Error {}

/** A parser for one HCL literal that re-emits it in canonical, fully quoted form. */
class Literal {
  private i = 0;
  constructor(private readonly s: string) {}

  parse(): string {
    const out = this.value();
    this.ws();
    if (this.i !== this.s.length) throw new Bad(`unexpected '${this.s[this.i]}' at column ${this.i + 1}`);
    return out;
  }

  private ws(): void {
    while (this.i < this.s.length && /\s/.test(this.s[this.i] as string)) this.i++;
  }

  private value(): string {
    this.ws();
    const c = this.s[this.i];
    if (c === "[") return this.list();
    if (c === "{") return this.object();
    if (c === '"') return quote(this.string());
    const m = /^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null)(?![\w.])/.exec(this.s.slice(this.i));
    if (!m) throw new Bad(`expected a value at column ${this.i + 1}`);
    this.i += (m[0] as string).length;
    return m[0] as string;
  }

  private list(): string {
    this.i++;
    const items: string[] = [];
    for (;;) {
      this.ws();
      if (this.s[this.i] === "]") break;
      items.push(this.value());
      this.ws();
      if (this.s[this.i] === ",") this.i++;
      else if (this.s[this.i] !== "]") throw new Bad(`expected ',' or ']' at column ${this.i + 1}`);
    }
    this.i++;
    return `[${items.join(", ")}]`;
  }

  private object(): string {
    this.i++;
    const items: string[] = [];
    for (;;) {
      this.ws();
      if (this.s[this.i] === "}") break;
      let key: string;
      if (this.s[this.i] === '"') key = this.string();
      else {
        const m = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(this.s.slice(this.i));
        if (!m) throw new Bad(`expected a key at column ${this.i + 1}`);
        key = m[0];
        this.i += key.length;
      }
      this.ws();
      if (this.s[this.i] !== "=" && this.s[this.i] !== ":") throw new Bad(`expected '=' after key at column ${this.i + 1}`);
      this.i++;
      items.push(`${quote(key)} = ${this.value()}`);
      this.ws();
      if (this.s[this.i] === ",") this.i++;
      else if (this.s[this.i] !== "}") throw new Bad(`expected ',' or '}' at column ${this.i + 1}`);
    }
    this.i++;
    return `{ ${items.join(", ")} }`;
  }

  /** A quoted string's text: HCL escapes decoded, `$${` and `%%{` read as the literal `${` and `%{`. */
  private string(): string {
    this.i++;
    let out = "";
    for (;;) {
      const c = this.s[this.i];
      if (c === undefined) throw new Bad("unterminated string");
      this.i++;
      if (c === '"') return out;
      if (c === "\\") {
        const e = this.s[this.i++];
        const simple: Record<string, string> = { n: "\n", r: "\r", t: "\t", '"': '"', "\\": "\\" };
        if (e !== undefined && e in simple) out += simple[e];
        else if (e === "u" || e === "U") {
          const len = e === "u" ? 4 : 8;
          const hex = this.s.slice(this.i, this.i + len);
          if (!new RegExp(`^[0-9A-Fa-f]{${len}}$`).test(hex)) throw new Bad("bad \\u escape");
          out += String.fromCodePoint(Number.parseInt(hex, 16));
          this.i += len;
        } else throw new Bad(`unknown escape '\\${e ?? ""}'`);
      } else if ((c === "$" || c === "%") && this.s[this.i] === c && this.s[this.i + 1] === "{") {
        out += `${c}{`;
        this.i += 2;
      } else if ((c === "$" || c === "%") && this.s[this.i] === "{") {
        throw new Bad(`'${c}{' starts a template; write '${c}${c}{' for the literal text`);
      } else out += c;
    }
  }
}

/** A string as an HCL quoted literal: escapes, and `${`/`%{` doubled so nothing is interpolated. */
export function quote(text: string): string {
  const body = text
    .replace(/\\/g, "\\\\")
    .replace(/"/g, '\\"')
    .replace(/\n/g, "\\n")
    .replace(/\r/g, "\\r")
    .replace(/\t/g, "\\t")
    .replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
    .replace(/([$%])\{/g, (_m, c: string) => `${c}${c}{`);
  return `"${body}"`;
}

/**
 * The HCL for one input value: a list, map or quoted string is parsed and
 * re-emitted; anything else is a plain string. Errors name the input, never the value.
 */
export function hclValue(field: string, value: string): string {
  const t = value.trim();
  if (!/^[[{"]/.test(t)) return quote(value);
  try {
    return new Literal(t).parse();
  } catch (err) {
    const why = err instanceof Bad ? err.message : "unreadable";
    throw new SandboxerError("SBX_INPUT_INVALID", `input '${field}': starts like an HCL list, map or quoted string but is not one (${why})`, {
      details: { field },
    });
  }
}

/** The `packer_var_<name>` inputs, sorted, as [input, variable name] pairs. */
export function packerVars(inputs: Record<string, unknown>): [string, string][] {
  return Object.keys(inputs)
    .filter((k) => k.startsWith(PACKER_VAR_PREFIX) && k !== "packer_var_file" && k.length > PACKER_VAR_PREFIX.length && typeof inputs[k] === "string")
    .sort()
    .map((k) => [k, k.slice(PACKER_VAR_PREFIX.length)]);
}

/** The var file's text (one `name = literal` line per variable), or null when there is none. */
export function varFileText(inputs: Record<string, unknown>): string | null {
  const vars = packerVars(inputs);
  if (!vars.length) return null;
  return `${vars.map(([k, name]) => `${name} = ${hclValue(k, inputs[k] as string)}`).join("\n")}\n`;
}
