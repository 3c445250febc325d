/**
 * Packer's machine-readable output (`-machine-readable`): one record per line,
 * `timestamp,target,type,data...`. Inside a field a comma is written as
 * `%!(PACKER_COMMA)` and newlines as the two characters `\n` (and `\r`), so a
 * plain split on "," is exact. Pure: no I/O, unit-tested on recorded output of
 * Debian's packer 1.6.6 (test/fixtures/packer/recorded/).
 */

export interface PackerRecord {
  /** Unix seconds. */
  timestamp: number;
  /** The build ("null.basic") or "" for global lines. */
  target: string;
  type: string;
  data: string[];
}

export interface PackerArtifact {
  /** The build that produced it, e.g. "file.image". */
  build: string;
  builderId: string;
  id: string;
  description: string;
  files: string[];
}

/** A progress note derived from one record: what the spinner and `sandbox.progress` show. */
export interface PackerNote {
  message: string;
  level: "say" | "message" | "error";
}

export function unescapeField(field: string): string {
  return field.replaceAll("%!(PACKER_COMMA)", ",").replaceAll("\\n", "\n").replaceAll("\\r", "\r");
}

/** One line -> one record, or null when the line is not machine-readable (stray stderr, blank). */
export function parseRecord(line: string): PackerRecord | null {
  const parts = line.replace(/\r?\n$/, "").split(",");
  if (parts.length < 3) return null;
  const [ts, target, type, ...data] = parts as [string, string, string, ...string[]];
  if (!/^\d{1,12}$/.test(ts) || !/^[a-z][a-z0-9-]*$/.test(type)) return null;
  return { timestamp: Number(ts), target: unescapeField(target), type, data: data.map(unescapeField) };
}

const MAX_ERROR_LINES = 20;

/**
 * Folds the stream into what the sandbox record needs: artifacts, error lines
 * and the error count. Feed it line by line as output arrives; `note` is what
 * to publish as progress for that line (null for bookkeeping records).
 */
export class PackerStream {
  readonly errors: string[] = [];
  errorCount = 0;
  /** Builds that reported `artifact ... end`, in order. */
  readonly artifacts: PackerArtifact[] = [];
  /** Set once packer reports it was interrupted and cancelled cleanly. */
  cancelled = false;
  private partial = new Map<string, PackerArtifact>();

  push(line: string): PackerNote | null {
    const rec = parseRecord(line);
    return rec ? this.apply(rec) : null;
  }

  apply(rec: PackerRecord): PackerNote | null {
    switch (rec.type) {
      case "ui":
        return this.ui(rec);
      case "artifact":
        this.artifact(rec);
        return null;
      case "error-count":
        this.errorCount = Number(rec.data[0] ?? 0) || 0;
        return null;
      case "error": {
        const msg = rec.data.join(",").trim();
        if (msg) this.addError(rec.target ? `${rec.target}: ${msg}` : msg);
        return null;
      }
      default:
        return null;
    }
  }

  private ui(rec: PackerRecord): PackerNote | null {
    const [kind, ...rest] = rec.data;
    const text = rest.join(",");
    const message = tidy(text);
    if (!message) return null;
    if (kind === "error") {
      if (/Cancelling build after receiving interrupt/.test(message)) this.cancelled = true;
      // The summary lines repeat the per-build errors; keep the substance only.
      if (!/^Some builds didn't complete successfully/.test(message) && !/^--> /.test(message)) this.addError(message);
      return { message, level: "error" };
    }
    if (/Cleanly cancelled builds after being interrupted/.test(message)) this.cancelled = true;
    if (kind === "say" || kind === "message") return { message, level: kind };
    return null;
  }

  private artifact(rec: PackerRecord): void {
    const [index = "0", key = "", ...vals] = rec.data;
    const k = `${rec.target}#${index}`;
    let a = this.partial.get(k);
    if (!a) {
      a = { build: rec.target, builderId: "", id: "", description: "", files: [] };
      this.partial.set(k, a);
    }
    const value = vals.join(",");
    if (key === "builder-id") a.builderId = value;
    else if (key === "id") a.id = value;
    else if (key === "string") a.description = value;
    else if (key === "file") a.files.push(vals.slice(1).join(","));
    else if (key === "end") {
      this.partial.delete(k);
      // A post-processor re-reports the builder's artifact: keep each one once.
      const dup = this.artifacts.some((x) => x.build === a.build && x.builderId === a.builderId && x.id === a.id && x.files.join("\0") === a.files.join("\0"));
      if (!dup) this.artifacts.push(a);
    }
  }

  private addError(message: string): void {
    if (this.errors.length < MAX_ERROR_LINES && !this.errors.includes(message)) this.errors.push(message);
  }

  /** A one-paragraph failure summary for the record's `error.message`. */
  summary(): string {
    if (!this.errors.length) return this.errorCount ? `${this.errorCount} build(s) failed` : "packer failed without an error line";
    return this.errors.map((e) => e.replace(/\s*\n\s*/g, " ").trim()).join(" | ");
  }
}

/** Collapse packer's decorations for a one-line spinner: leading newlines, "==> ", runs of blanks. */
function tidy(text: string): string {
  return text
    .replace(/^\s*\n+/, "")
    .replace(/\n+$/, "")
    .replace(/^==> /, "")
    .trim();
}
