import { close, open, write } from "node:fs";
import { open as openFile } from "node:fs/promises";
import { Writable } from "node:stream";
import { SandboxerError } from "../errors.js";
import type { FileBackedWritable, StreamOptions } from "../transport/stream.js";
import type { RunResult, Transport } from "../transport/types.js";
import { type Digest, type HashAlgorithm, hashFile, preferredAlgorithm, StreamHasher } from "./digest.js";
import type { ArchiveFormat, SnapshotSource } from "./types.js";

/**
 * Workspace archives: a tar of the workspace's contents (relative paths, numeric
 * owners), compressed ON the host that holds the workspace (zstd, gzip where
 * zstd is missing) and streamed back over the host's transport. Running the
 * same `tar | zstd` pipeline the raw tool would run is what keeps snapshots
 * close to raw throughput; the command writes the archive file itself
 * (ArchiveSink below), node only hashes it afterwards.
 *
 * bash for `pipefail`: a tar failure must fail the snapshot, not hide behind
 * the compressor's exit status. `cd ... || exit`: without it a missing
 * workspace would archive the login directory instead.
 */
const ARCHIVE_SCRIPT = [
  "set -o pipefail",
  'cd -- "$1" || exit 3',
  "if command -v zstd >/dev/null 2>&1; then tar --numeric-owner -cf - . | zstd -q -T0 -c",
  "else tar --numeric-owner -cf - . | gzip -c; fi",
].join("\n");

const EXTRACT_SCRIPT = [
  "set -o pipefail",
  'mkdir -p -- "$1" || exit 3',
  'case "$2" in tar+zstd) dec="zstd -q -d -c" ;; tar+gzip) dec="gzip -d -c" ;; *) echo "unknown format $2" >&2; exit 2 ;; esac',
  '$dec | tar --numeric-owner -C "$1" -xf -',
].join("\n");

type StreamingTransport = Transport & { stream(argv: readonly string[], opts?: StreamOptions): Promise<RunResult> };

function streaming(transport: Transport): StreamingTransport {
  const t = transport as Partial<StreamingTransport> & Transport;
  if (typeof t.stream !== "function") {
    throw new SandboxerError("SBX_UNSUPPORTED", `the transport to host '${transport.host.name}' cannot stream files, which snapshots need`);
  }
  return t as StreamingTransport;
}

function failure(what: string, r: RunResult): SandboxerError {
  const tail = r.stderr.trim().split("\n").slice(-3).join(" | ") || `exit ${r.code}`;
  return new SandboxerError("SBX_SNAPSHOT_FAILED", `${what}: ${tail}`);
}

/** Stream a compressed archive of `dir` (on the transport's host) into `dest`. */
export async function archiveDir(transport: Transport, dir: string, dest: Writable, signal?: AbortSignal): Promise<void> {
  const r = await streaming(transport).stream(["bash", "-c", ARCHIVE_SCRIPT, "sandboxer-archive", dir], { stdout: dest, ...(signal ? { signal } : {}) });
  if (r.code !== 0) throw failure(`archiving ${dir} on ${transport.host.name}`, r);
}

/** Fill `dir` (on the transport's host) from a local archive; creates `dir` if needed. */
export async function extractArchive(transport: Transport, dir: string, source: SnapshotSource, signal?: AbortSignal): Promise<void> {
  // The archive file is the command's stdin fd (ssh's, for remote hosts): no copy through node.
  const r = await streaming(transport).stream(["bash", "-c", EXTRACT_SCRIPT, "sandboxer-extract", dir, source.format], {
    stdinFile: source.path,
    ...(signal ? { signal } : {}),
  });
  if (r.code !== 0) throw failure(`restoring ${source.id} into ${dir} on ${transport.host.name}`, r);
}

/** Recognise the compressor from the archive's first bytes (the host chose it). */
export function formatOf(head: Buffer): ArchiveFormat | null {
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return "tar+zstd";
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return "tar+gzip";
  return null;
}

export interface SinkResult {
  digest: Digest;
  sizeBytes: number;
  format: ArchiveFormat | null;
}

/**
 * Where an archive is written: a file created exclusively (0600), never held
 * whole in memory. Two ways in:
 *  - direct (what `archiveDir` does through `Transport.stream`): the command's
 *    stdout IS the file (`fileDescriptor()`), so the bytes never pass through
 *    node, exactly like the raw `tar | zstd > file`; when it ends, the file is
 *    hashed by `b3sum` reading it (mmap, every core: a small fraction of the
 *    compression's CPU) and its size and format read back;
 *  - written (any other writer): chunks are hashed beside the file write.
 * BLAKE3 where `b3sum` is installed, else SHA-256 (./digest.ts). No fsync, like
 * the raw pipeline: an archive lost to a power cut fails its check at restore
 * (SBX_SNAPSHOT_CORRUPT), it never restores silently wrong.
 */
export class ArchiveSink extends Writable implements FileBackedWritable {
  private hasher: StreamHasher | null = null;
  private size = 0;
  private head = Buffer.alloc(0);
  private fd: number | null = null;
  private digest: Digest | null = null;
  private readonly opened: Promise<number>;
  private resolveOpened!: (fd: number) => void;
  private rejectOpened!: (err: Error) => void;

  constructor(
    private readonly path: string,
    private readonly algorithm: HashAlgorithm = preferredAlgorithm(),
  ) {
    super({ highWaterMark: 1 << 20 });
    this.opened = new Promise((resolve, reject) => {
      this.resolveOpened = resolve;
      this.rejectOpened = reject;
    });
    this.opened.catch(() => undefined);
  }

  override _construct(cb: (err?: Error | null) => void): void {
    open(this.path, "wx", 0o600, (err, fd) => {
      this.fd = fd;
      if (err) this.rejectOpened(err);
      else this.resolveOpened(fd);
      cb(err);
    });
  }

  /** The file's descriptor, for a command to write the archive into directly. */
  fileDescriptor(): Promise<number> {
    return this.opened;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.hasher ??= new StreamHasher(this.algorithm);
    const hashed = this.hasher.update(chunk);
    this.size += chunk.length;
    if (this.head.length < 4) this.head = Buffer.concat([this.head, chunk.subarray(0, 4)]);
    this.writeAll(chunk, 0, (err) => {
      if (err || !hashed) cb(err);
      else hashed.then(() => cb(), cb);
    });
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.finish().then(
      () => cb(),
      (err: Error) => cb(err),
    );
  }

  private async finish(): Promise<void> {
    if (this.hasher) {
      this.digest = await this.hasher.digest();
      return;
    }
    // Written directly by a command: read back what it wrote.
    const file = await hashFile(this.path, this.algorithm);
    this.digest = { algorithm: file.algorithm, hex: file.hex };
    this.size = file.sizeBytes;
    // The sink's own descriptor is write-only: read the magic through another.
    const f = await openFile(this.path, "r");
    try {
      const { buffer, bytesRead } = await f.read(Buffer.alloc(4), 0, 4, 0);
      this.head = buffer.subarray(0, bytesRead);
    } finally {
      await f.close();
    }
  }

  private writeAll(chunk: Buffer, offset: number, cb: (err?: Error | null) => void): void {
    write(this.fd as number, chunk, offset, chunk.length - offset, null, (err, n) => {
      if (err) cb(err);
      else if (offset + n < chunk.length) this.writeAll(chunk, offset + n, cb);
      else cb();
    });
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.digest) this.hasher?.abort();
    const fd = this.fd;
    this.fd = null;
    if (fd === null) cb(err);
    else close(fd, (closeErr) => cb(err ?? closeErr));
  }

  /** After `finish`: the digest, size and format of what was written. */
  result(): SinkResult {
    if (!this.digest) throw new SandboxerError("SBX_SNAPSHOT_FAILED", "the archive was not finished");
    return { digest: this.digest, sizeBytes: this.size, format: formatOf(this.head) };
  }
}
