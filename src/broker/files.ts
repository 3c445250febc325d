/**
 * Files in and out of a ready sandbox (`sandboxer cp`, `/v1/sandboxes/{id}/files`,
 * the MCP file tools). Streamed both ways; uploads are capped by the profile's
 * `files.maxUpload` and land whole or not at all. The extension's own `files`
 * (vendor APIs) when it has them, else fixed scripts over `sandboxCommand`.
 */
import { PassThrough, Readable, Transform, Writable } from "node:stream";
import type { Profile } from "../catalog/schema.js";
import { SandboxerError } from "../errors.js";
import type { FileEntry, FileListing } from "../extensions/define.js";
import * as shell from "../sandbox-shell/files.js";
import { LocalCommandOutput } from "../transport/pipe-into.js";
import type { Runtime } from "./runtime.js";
import { checkPath, type OpenSandbox, openSandbox, runnerFor } from "./sandbox-access.js";

export type { FileEntry, FileListing } from "../extensions/define.js";

/** Without `files.maxUpload` in the profile. */
export const DEFAULT_MAX_UPLOAD = 1024 ** 3;
/** `readFile` answers at most this much unless asked for more (it holds the bytes). */
export const DEFAULT_READ_BYTES = 8 * 1024 * 1024;
const DEFAULT_LIST_LIMIT = 1000;
const MAX_LIST_LIMIT = 100_000;

const UNITS: Record<string, number> = { "": 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };

export function maxUpload(profile: Pick<Profile, "files">): number {
  const v = profile.files?.maxUpload;
  if (v === undefined) return DEFAULT_MAX_UPLOAD;
  if (typeof v === "number") return v;
  const m = /^(\d+)(KiB|MiB|GiB|TiB)?$/.exec(v);
  return m ? Number(m[1]) * (UNITS[m[2] ?? ""] ?? 1) : DEFAULT_MAX_UPLOAD;
}

const tooLarge = (what: string, max: number) =>
  new SandboxerError("SBX_TOO_LARGE", `${what} is larger than this profile's upload limit of ${max} bytes (files.maxUpload); nothing was written`, {
    details: { limit: max },
  });

/** Passes bytes through and fails the stream once more than `max` went by. */
export function byteLimit(max: number, what: string): Transform & { bytes: number } {
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      t.bytes += chunk.length;
      if (t.bytes > max) {
        cb(tooLarge(what, max));
        return;
      }
      cb(null, chunk);
    },
  }) as Transform & { bytes: number };
  t.bytes = 0;
  return t;
}

function asReadable(data: Readable | Uint8Array | string): Readable {
  if (typeof data === "string" || data instanceof Uint8Array) return Readable.from([Buffer.from(data)]);
  return data;
}

function checkMode(mode: number | undefined): number | undefined {
  if (mode === undefined) return undefined;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777)
    throw new SandboxerError("SBX_INPUT_INVALID", "mode: permission bits 0-07777 (e.g. 0o755)", { details: { field: "mode" } });
  return mode;
}

async function open(rt: Runtime, id: string, service: string | undefined): Promise<OpenSandbox> {
  return openSandbox(rt, id, "files", service);
}

type Svc = { service?: string | undefined };

export async function putFiles(rt: Runtime, id: string, dest: string, tar: Readable, opts: Svc = {}): Promise<{ bytes: number }> {
  const path = checkPath(dest, "dest");
  const s = await open(rt, id, opts.service);
  const max = maxUpload(s.profile);
  // A tar made by a command on this host (the CLI's `tar -c`) goes straight into the sandbox, counted by dd, not by node.
  if (tar instanceof LocalCommandOutput && !s.ext.files && s.ext.sandboxCommand) {
    const runner = runnerFor(s, opts.service) as shell.SandboxRunner & Required<Pick<shell.SandboxRunner, "pipe">>;
    return { bytes: await shell.putArchiveFrom(runner, path, tar.argv, max, () => tooLarge("the upload", max)) };
  }
  const limit = byteLimit(max, "the upload");
  const src = tar.pipe(limit);
  tar.on("error", (e) => limit.destroy(e));
  try {
    if (s.ext.files) await s.ext.files.putArchive(s.ctx, s.handle, path, src);
    else await shell.putArchive(runnerFor(s, opts.service), path, src);
  } finally {
    // A refused or failed upload stops reading: a local `tar -c` we started must not stay behind it,
    // blocked on its full pipe and keeping the CLI alive. (A caller's stream, e.g. a request body, is the caller's.)
    if (tar instanceof LocalCommandOutput && !tar.destroyed) tar.destroy();
  }
  return { bytes: limit.bytes };
}

export async function writeFile(
  rt: Runtime,
  id: string,
  path: string,
  data: Readable | Uint8Array | string,
  opts: Svc & { mode?: number } = {},
): Promise<{ path: string; bytes: number }> {
  const p = checkPath(path);
  if (p === "." || p === "/") throw new SandboxerError("SBX_INPUT_INVALID", "path: names a directory, not a file", { details: { field: "path" } });
  const mode = checkMode(opts.mode);
  const s = await open(rt, id, opts.service);
  const src = asReadable(data);
  const limit = byteLimit(maxUpload(s.profile), `the file for '${p.slice(0, 200)}'`);
  src.on("error", (e) => limit.destroy(e));
  const counted = src.pipe(limit);
  if (s.ext.files) await s.ext.files.writeFile(s.ctx, s.handle, p, counted, mode);
  else await shell.writeFile(runnerFor(s, opts.service), p, counted, mode);
  return { path: p, bytes: limit.bytes };
}

/**
 * Start `produce` writing into a stream and hand the stream over once the
 * first bytes came (or it finished): an error before that (no such path)
 * rejects, a later one destroys the stream.
 */
function handOver(produce: (out: Writable) => Promise<unknown>): Promise<Readable> {
  const out = new PassThrough();
  return new Promise<Readable>((resolve, reject) => {
    let handed = false;
    const give = () => {
      if (!handed) {
        handed = true;
        resolve(out);
      }
    };
    out.once("readable", give);
    produce(out).then(
      () => {
        if (!out.writableEnded) out.end();
        give();
      },
      (err) => {
        if (handed) out.destroy(err);
        else {
          handed = true;
          reject(err);
        }
      },
    );
  });
}

export async function getFiles(rt: Runtime, id: string, path: string, opts: Svc = {}): Promise<Readable> {
  const p = checkPath(path);
  const s = await open(rt, id, opts.service);
  if (s.ext.files) {
    const files = s.ext.files;
    return handOver((out) => files.getArchive(s.ctx, s.handle, p, out));
  }
  const runner = runnerFor(s, opts.service);
  return handOver((out) => shell.getArchive(runner, p, out));
}

/** A regular file as a stream (`GET /files` of a file); SBX_NOT_FOUND when none. */
export async function openFile(rt: Runtime, id: string, path: string, opts: Svc = {}): Promise<Readable> {
  const p = checkPath(path);
  const s = await open(rt, id, opts.service);
  return handOver(async (out) => {
    if (!(await readInto(s, p, out, Number.POSITIVE_INFINITY, opts.service))) throw noFile(id, p);
  });
}

const noFile = (id: string, p: string) => new SandboxerError("SBX_NOT_FOUND", `no file '${p.slice(0, 200)}' in ${id}`, { details: { field: "path" } });

function readInto(s: OpenSandbox, p: string, out: Writable, max: number, service: string | undefined): Promise<{ size: number } | null> {
  return s.ext.files ? s.ext.files.readFile(s.ctx, s.handle, p, out, max) : shell.readFile(runnerFor(s, service), p, out, max);
}

export async function readFile(
  rt: Runtime,
  id: string,
  path: string,
  opts: Svc & { maxBytes?: number } = {},
): Promise<{ data: Buffer; size: number; truncated: boolean }> {
  const max = opts.maxBytes ?? DEFAULT_READ_BYTES;
  if (!Number.isInteger(max) || max < 0) throw new SandboxerError("SBX_INPUT_INVALID", "maxBytes: a whole number of bytes", { details: { field: "maxBytes" } });
  const p = checkPath(path);
  const s = await open(rt, id, opts.service);
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(c: Buffer, _e, cb) {
      chunks.push(c);
      cb();
    },
  });
  const r = await readInto(s, p, sink, max, opts.service);
  if (!r) throw noFile(id, p);
  const data = Buffer.concat(chunks).subarray(0, max);
  return { data, size: r.size, truncated: r.size > data.length };
}

export async function listFiles(rt: Runtime, id: string, path: string, opts: Svc & { limit?: number } = {}): Promise<FileListing> {
  const p = checkPath(path);
  const limit = opts.limit ?? DEFAULT_LIST_LIMIT;
  if (!Number.isInteger(limit) || limit < 0 || limit > MAX_LIST_LIMIT)
    throw new SandboxerError("SBX_INPUT_INVALID", `limit: 0-${MAX_LIST_LIMIT}`, { details: { field: "limit" } });
  const s = await open(rt, id, opts.service);
  const r = s.ext.files ? await s.ext.files.list(s.ctx, s.handle, p, limit) : await shell.list(runnerFor(s, opts.service), p, limit);
  if (!r) throw new SandboxerError("SBX_NOT_FOUND", `no file or directory '${p.slice(0, 200)}' in ${id}`, { details: { field: "path" } });
  return r;
}

/** The entry at `path` itself (links not followed), or null: what `cp` asks before it picks a form. */
export async function statFile(rt: Runtime, id: string, path: string, opts: Svc = {}): Promise<FileEntry | null> {
  const p = checkPath(path);
  const s = await open(rt, id, opts.service);
  return s.ext.files ? s.ext.files.stat(s.ctx, s.handle, p) : shell.stat(runnerFor(s, opts.service), p);
}

export async function deleteFile(rt: Runtime, id: string, path: string, opts: Svc & { recursive?: boolean } = {}): Promise<void> {
  const p = checkPath(path);
  if (p === "." || p === "/")
    throw new SandboxerError("SBX_INPUT_INVALID", `path: '${p}' is the sandbox's root or workspace itself; delete what is in it`, {
      details: { field: "path" },
    });
  const s = await open(rt, id, opts.service);
  if (s.ext.files) await s.ext.files.remove(s.ctx, s.handle, p, opts.recursive === true);
  else await shell.remove(runnerFor(s, opts.service), p, opts.recursive === true);
}
