/**
 * YAML with positions: parse a file keeping its nodes, so a schema problem at
 * a path (`slots.1.port`) can be reported at the line that holds it. Pure:
 * text in, values and line lookups out.
 */
import { isMap, isScalar, LineCounter, type Node, parseDocument } from "yaml";

export interface LocatedYaml {
  /** The plain value (null for an empty file). */
  value: unknown;
  /** Syntax problems (duplicate keys included), each with its line. */
  errors: { line: number; message: string }[];
  /**
   * The line of the node at `path`; for a key that should not be there, pass
   * it as the last element with `key: true`. Falls back to the nearest
   * ancestor that exists (a missing field: its parent's line).
   */
  lineOf(path: readonly PropertyKey[], opts?: { key?: boolean }): number;
}

export function parseLocated(text: string): LocatedYaml {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true });
  // Pretty errors carry linePos; their message repeats it ("... at line 4, column 1:"), which we say our way.
  const errors = doc.errors.map((e) => ({
    line: e.linePos?.[0]?.line ?? 1,
    message: (e.message.split("\n")[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, ""),
  }));
  const lineAt = (offset: number | undefined) => (offset === undefined ? 1 : lc.linePos(offset).line);
  return {
    value: errors.length ? null : doc.toJS(),
    errors,
    lineOf(path, opts = {}) {
      const keys = path.map((k) => (typeof k === "number" ? k : String(k)));
      for (let n = keys.length; n >= 0; n--) {
        const prefix = keys.slice(0, n);
        if (opts.key && n === keys.length && n > 0) {
          const parent = prefix.length > 1 ? doc.getIn(prefix.slice(0, -1), true) : doc.contents;
          if (isMap(parent)) {
            const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === String(prefix.at(-1)));
            const key = pair?.key as Node | undefined;
            if (key?.range) return lineAt(key.range[0]);
          }
          continue;
        }
        const node = (n === 0 ? doc.contents : doc.getIn(prefix, true)) as Node | null | undefined;
        if (node && typeof node === "object" && node.range) return lineAt(node.range[0]);
      }
      return 1;
    },
  };
}
