/**
 * FileOps for every backend that can run a command inside its sandboxes
 * (`sandboxCommand`): the fixed scripts of file-scripts.ts, streamed over that
 * command. Uploads are two-phase: staged beside their destination, checked,
 * then renamed into place (or discarded), so a failed or oversized upload
 * leaves nothing half written.
 */
import { randomBytes } from "node:crypto";
import { type Readable, Transform, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { SandboxerError } from "../errors.js";
import type { FileEntry, FileListing } from "../extensions/define.js";
import type { PipedResult } from "../transport/pipe-into.js";
import type { RunResult } from "../transport/types.js";
import * as S from "./file-scripts.js";

/** Runs one argv inside the sandbox with streamed stdin/stdout (see broker/sandbox-runner.ts). */
export interface SandboxRunner {
  readonly sandboxId: string;
  /** Confinement root inside the sandbox, or null. */
  readonly root: string | null;
  stream(argv: string[], opts: { stdin?: Readable; stdout?: Writable }): Promise<RunResult>;
  /** Run argv with stdin from a command on this host, in one pipeline counted by dd (transport/pipe-into.ts). */
  pipe?(producer: readonly string[], argv: string[], limit: number): Promise<PipedResult>;
}

const run = (r: SandboxRunner, script: string, args: string[], opts: { stdin?: Readable; stdout?: Writable } = {}) =>
  r.stream(["sh", "-c", script, "sh", r.root ?? "", ...args], opts);

/** stdout of a small command, capped (listings are bounded by their limit). */
async function capture(r: SandboxRunner, script: string, args: string[], cap = 8 * 1024 * 1024): Promise<{ res: RunResult; out: string }> {
  const chunks: Buffer[] = [];
  let size = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (size < cap) chunks.push(chunk.subarray(0, cap - size));
      size += chunk.length;
      cb();
    },
  });
  const res = await run(r, script, args, { stdout: sink });
  return { res, out: Buffer.concat(chunks).toString("utf8") };
}

/** A script's exit code as the error a caller can act on (0 = none). */
export function fileError(r: Pick<SandboxRunner, "sandboxId" | "root">, res: RunResult, path: string, what: string): SandboxerError | null {
  const p = path.slice(0, 200);
  switch (res.code) {
    case 0:
      return null;
    case S.NOT_THERE:
      return new SandboxerError("SBX_NOT_FOUND", `no file or directory '${p}' in ${r.sandboxId}`, { details: { field: "path", path: p } });
    case S.WRONG_KIND:
      return new SandboxerError(
        "SBX_INPUT_INVALID",
        `path: '${p}' in ${r.sandboxId} is the wrong kind for ${what}${res.stderr.trim() ? ` (${res.stderr.trim().split("\n").at(-1)})` : ""}`,
        { details: { field: "path" } },
      );
    case S.OUTSIDE:
      return new SandboxerError(
        "SBX_INPUT_INVALID",
        `path: '${p}' resolves outside the sandbox's workspace ${r.root ?? ""} (a link pointing out is not followed)`,
        { details: { field: "path" } },
      );
    default:
      return new SandboxerError(
        "SBX_EXEC_FAILED",
        `${what} '${p}' in ${r.sandboxId} failed (exit ${res.code}): ${res.stderr.trim().slice(-300) || "no message"}`,
        { details: { path: p } },
      );
  }
}

function check(r: SandboxRunner, res: RunResult, path: string, what: string): void {
  const e = fileError(r, res, path, what);
  if (e) throw e;
}

const stageName = () => `.sbx-upload-${randomBytes(6).toString("hex")}`;

/**
 * Feed `src` to a command's stdin, counting what went through. A source that
 * fails (too large, the client went away) ends the command's stdin early
 * instead of tearing the process down, so the far side finishes on its own
 * and the caller discards what it staged. Nothing flows before the command's
 * stdin is attached (no 'data' listener here: that would drop early bytes).
 */
function feed(src: Readable): { stdin: Transform; failure: () => unknown; sent: () => number; downstreamOnly: () => boolean } {
  let sent = 0;
  const stdin = new Transform({
    transform(chunk: Buffer, _e, cb) {
      sent += chunk.length;
      cb(null, chunk);
    },
  });
  let failed: unknown;
  let fromSource = false;
  src.on("error", () => {
    fromSource = true;
  });
  pipeline(src, stdin).catch((err) => {
    failed = err ?? new Error("source failed");
    stdin.end();
  });
  // The far side may stop reading once it has what it needs (tar leaves the archive's zero padding):
  // that closes the pipe under us, which is no failure of the upload when the command then succeeds.
  const downstreamOnly = () =>
    !fromSource && !(failed instanceof SandboxerError) && /PREMATURE_CLOSE|EPIPE|DESTROYED/.test(String((failed as { code?: string })?.code ?? ""));
  return { stdin, failure: () => failed, sent: () => sent, downstreamOnly };
}

export async function putArchive(r: SandboxRunner, dest: string, tar: Readable): Promise<void> {
  const stage = stageName();
  const { stdin, failure, downstreamOnly } = feed(tar);
  const res = await run(r, S.PUT_STAGE, [dest, stage], { stdin });
  const failed = res.code === 0 && downstreamOnly() ? undefined : failure();
  if (failed || res.code !== 0) {
    // Staged under dest (when dest is a path that exists or could be made).
    if (res.code !== S.OUTSIDE && res.code !== S.WRONG_KIND) await run(r, S.DISCARD, [`${dest.replace(/\/+$/, "") || "/"}/${stage}`]).catch(() => undefined);
    if (failed) throw failed;
    check(r, res, dest, "extracting an upload into");
  }
  const done = await run(r, S.PUT_COMMIT, [dest, stage]);
  check(r, done, dest, "moving the upload into");
}

/**
 * putArchive with the tar made by a command on this host (`tar -c` of a local
 * directory): one pipeline from it into the sandbox, no byte through node.
 * The same two phases: staged, then moved into place only when the producer
 * succeeded and no more than `max` bytes came; else discarded. Returns the size.
 */
export async function putArchiveFrom(
  r: SandboxRunner & Required<Pick<SandboxRunner, "pipe">>,
  dest: string,
  producer: readonly string[],
  max: number,
  tooLarge: () => Error,
): Promise<number> {
  const stage = stageName();
  const res = await r.pipe(producer, ["sh", "-c", S.PUT_STAGE, "sh", r.root ?? "", dest, stage], max);
  const failed =
    res.bytes > max
      ? tooLarge()
      : res.producerCode !== 0
        ? new SandboxerError(
            "SBX_EXEC_FAILED",
            `${producer[0]} (packing the upload) exited ${res.producerCode}: ${res.producerStderr.trim().slice(-400) || "no message"}; nothing was written`,
          )
        : null;
  if (failed || res.code !== 0) {
    if (res.code !== S.OUTSIDE && res.code !== S.WRONG_KIND) await run(r, S.DISCARD, [`${dest.replace(/\/+$/, "") || "/"}/${stage}`]).catch(() => undefined);
    if (failed) throw failed;
    check(r, res, dest, "extracting an upload into");
  }
  check(r, await run(r, S.PUT_COMMIT, [dest, stage]), dest, "moving the upload into");
  return res.bytes;
}

export async function writeFile(r: SandboxRunner, path: string, data: Readable, mode: number | undefined): Promise<number> {
  const tmp = stageName();
  const { stdin, failure, sent: counted } = feed(data);
  const chunks: Buffer[] = [];
  const out = new Writable({
    write(c: Buffer, _e, cb) {
      chunks.push(c);
      cb();
    },
  });
  const res = await run(r, S.WRITE_STAGE, [path, tmp, mode === undefined ? "" : mode.toString(8)], { stdin, stdout: out });
  const failed = failure();
  const written = Number(Buffer.concat(chunks).toString().trim());
  const sent = counted();
  if (failed || res.code !== 0 || written !== sent) {
    if (res.code === 0 || res.code === S.FAILED) await run(r, S.DISCARD, [join(dirOf(path), tmp)]).catch(() => undefined);
    if (failed) throw failed;
    check(r, res, path, "writing");
    throw new SandboxerError("SBX_EXEC_FAILED", `writing '${path.slice(0, 200)}' in ${r.sandboxId}: ${written} of ${sent} bytes arrived; nothing was written`);
  }
  check(r, await run(r, S.WRITE_COMMIT, [path, tmp]), path, "writing");
  return sent;
}

const dirOf = (p: string) => (p.includes("/") ? p.slice(0, p.lastIndexOf("/")) || "/" : ".");
const join = (d: string, n: string) => (d.endsWith("/") ? `${d}${n}` : `${d}/${n}`);

/** Writes through to `out` with its back-pressure, but never ends it: the caller does, once the command succeeded. */
function forwardTo(out: Writable, skipHeader?: (chunk: Buffer) => Buffer | null): Writable {
  return new Writable({
    write(chunk: Buffer, _e, cb) {
      const rest = skipHeader ? skipHeader(chunk) : chunk;
      if (!rest?.length) return cb();
      // A reader that went away (an API client hung up) fails the copy, so the command is stopped, not left blocked.
      if (out.destroyed) return cb(new Error("the reader went away"));
      if (out.write(rest)) return cb();
      const onDrain = () => {
        out.off("close", onClose);
        cb();
      };
      const onClose = () => {
        out.off("drain", onDrain);
        cb(new Error("the reader went away"));
      };
      out.once("drain", onDrain);
      out.once("close", onClose);
    },
  });
}

/**
 * Stream a regular file to `out` (not ended here): the first line the script
 * prints is the size, the rest is the content (at most maxBytes). Null when
 * nothing is there.
 */
export async function readFile(r: SandboxRunner, path: string, out: Writable, maxBytes: number): Promise<{ size: number } | null> {
  let size: number | null = null;
  let head = Buffer.alloc(0);
  const sink = forwardTo(out, (chunk) => {
    if (size !== null) return chunk;
    head = Buffer.concat([head, chunk]);
    const nl = head.indexOf(10);
    if (nl < 0) return null;
    size = Number(head.subarray(0, nl).toString());
    return head.subarray(nl + 1);
  });
  const res = await run(r, S.READ, [path, Number.isFinite(maxBytes) ? String(maxBytes) : ""], { stdout: sink });
  if (res.code === S.NOT_THERE) return null;
  check(r, res, path, "reading");
  return { size: size ?? 0 };
}

/** A tar of `path` into `out` (not ended here). */
export async function getArchive(r: SandboxRunner, path: string, out: Writable): Promise<void> {
  const res = await run(r, S.GET_ARCHIVE, [path], { stdout: forwardTo(out) });
  check(r, res, path, "archiving");
}

function typeOf(raw: number): FileEntry["type"] {
  const t = raw & 0o170000;
  return t === 0o100000 ? "file" : t === 0o040000 ? "dir" : t === 0o120000 ? "symlink" : "other";
}

/** One `%f %s %Y %n` line as an entry (the name may hold spaces: it is the rest of the line). */
export function parseStatLine(line: string, dir: string | null): FileEntry | null {
  const m = /^([0-9a-f]+) (\d+) (\d+) (.*)$/.exec(line);
  if (!m) return null;
  const raw = Number.parseInt(m[1] as string, 16);
  const name = (m[4] as string).replace(/^.*\//, "");
  return {
    name,
    path: dir === null ? (m[4] as string) : join(dir, name),
    type: typeOf(raw),
    size: Number(m[2]),
    mode: (raw & 0o7777).toString(8).padStart(4, "0"),
    mtime: new Date(Number(m[3]) * 1000).toISOString(),
  };
}

export async function list(r: SandboxRunner, path: string, limit: number): Promise<FileListing | null> {
  const { res, out } = await capture(r, S.LIST, [path, String(limit)]);
  if (res.code === S.NOT_THERE) return null;
  check(r, res, path, "listing");
  const lines = out.split("\n");
  const [kind, count] = (lines.shift() ?? "").split(" ");
  const total = Number(count);
  const entries: FileEntry[] = [];
  const byName = new Map<string, FileEntry>();
  let i = 0;
  for (; i < lines.length && lines[i] !== "--links--"; i++) {
    const e = parseStatLine(lines[i] as string, null);
    if (!e) continue;
    entries.push(e);
    byName.set(e.name, e);
  }
  for (i++; i + 1 < lines.length; i += 2) {
    const e = byName.get((lines[i] as string).replace(/^.*\//, ""));
    if (e) e.target = lines[i + 1] as string;
  }
  // Directory children are named from the path asked; a single file keeps that path.
  const dir = path.replace(/\/+$/, "") || "/";
  for (const e of entries) e.path = kind !== "D" ? path : dir === "." ? e.name : join(dir, e.name);
  entries.sort((a, b) => a.name.localeCompare(b.name));
  return { entries, truncated: total > entries.length, total };
}

export async function stat(r: SandboxRunner, path: string): Promise<FileEntry | null> {
  const { res, out } = await capture(r, S.STAT, [path], 64 * 1024);
  if (res.code === S.NOT_THERE) return null;
  check(r, res, path, "looking at");
  const [line, target] = out.split("\n");
  const e = parseStatLine(line ?? "", null);
  if (!e) throw new SandboxerError("SBX_EXEC_FAILED", `looking at '${path.slice(0, 200)}' in ${r.sandboxId}: unexpected answer '${out.slice(0, 100)}'`);
  e.path = path;
  if (e.type === "symlink" && target !== undefined) e.target = target;
  return e;
}

export async function remove(r: SandboxRunner, path: string, recursive: boolean): Promise<void> {
  const res = await run(r, S.REMOVE, [path, recursive ? "1" : ""]);
  if (res.code === S.WRONG_KIND) {
    throw new SandboxerError("SBX_INPUT_INVALID", `path: '${path.slice(0, 200)}' is a directory; delete it with recursive (cp: -r, API: recursive=1)`, {
      details: { field: "path" },
    });
  }
  check(r, res, path, "removing");
}
