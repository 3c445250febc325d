import type { SandboxerError } from "../errors.js";

export interface Out {
  json: boolean;
  /** stdout */
  print(text: string): void;
  /** stderr, never with --json progress */
  note(text: string): void;
  data(value: unknown): void;
  stdoutIsTty: boolean;
  stderrIsTty: boolean;
}

export function makeOut(json: boolean): Out {
  return {
    json,
    print: (t) => process.stdout.write(t.endsWith("\n") ? t : `${t}\n`),
    note: (t) => process.stderr.write(t.endsWith("\n") ? t : `${t}\n`),
    data: (v) => process.stdout.write(`${JSON.stringify(v, null, 2)}\n`),
    stdoutIsTty: Boolean(process.stdout.isTTY),
    stderrIsTty: Boolean(process.stderr.isTTY),
  };
}

/** Anything shaped like an API token (`sbx_tok-…`, also mistyped) is cut before it reaches a terminal or a log. */
export function redactTokens(text: string): string {
  return text.replace(/sbx[_-]tok[_-][A-Za-z0-9_-]*/g, "sbx_tok-… (token not shown)");
}

export function formatError(err: SandboxerError, json: boolean): string {
  const message = redactTokens(err.message);
  return json ? JSON.stringify({ error: { code: err.code, message } }) : `error [${err.code}]: ${message}`;
}

/** Left-aligned columns, headers in capitals, like `docker ps`. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

export function ago(iso: string | null, now: Date = new Date()): string {
  if (!iso) return "-";
  return `${humanSeconds((now.getTime() - new Date(iso).getTime()) / 1000)} ago`;
}

export function until(iso: string | null, now: Date = new Date()): string {
  if (!iso) return "-";
  const s = (new Date(iso).getTime() - now.getTime()) / 1000;
  return s <= 0 ? "expired" : `in ${humanSeconds(s)}`;
}

export function humanSeconds(s: number): string {
  const abs = Math.max(0, Math.round(s));
  if (abs < 60) return `${abs}s`;
  if (abs < 3600) return `${Math.floor(abs / 60)}m`;
  if (abs < 86400) return `${Math.floor(abs / 3600)}h${Math.floor((abs % 3600) / 60) || ""}${abs % 3600 >= 60 ? "m" : ""}`;
  return `${Math.floor(abs / 86400)}d`;
}
