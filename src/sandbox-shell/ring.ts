/**
 * The output ring of a detached process: one file, a 16-byte header (bytes
 * ever written, capacity; both little-endian u64) then `capacity` bytes used
 * circularly. The supervisor writes data first and the header after, so a
 * reader that reads the header, then the data, then the header again knows
 * exactly which of the bytes it read may have been overwritten meanwhile.
 */
import { closeSync, openSync, readSync } from "node:fs";

export const RING_HEADER = 16;
export const DEFAULT_RING_BYTES = 4 * 1024 * 1024;

export interface RingRead {
  data: Buffer;
  /** Offset of the first byte of `data` in the process's whole output. */
  offset: number;
  /** Bytes between the offset asked for and `offset` that the ring no longer holds. */
  dropped: number;
  /** Bytes written so far. */
  total: number;
}

function header(fd: number): { total: number; cap: number } {
  const b = Buffer.alloc(RING_HEADER);
  if (readSync(fd, b, 0, RING_HEADER, 0) < RING_HEADER) return { total: 0, cap: 0 };
  return { total: Number(b.readBigUInt64LE(0)), cap: Number(b.readBigUInt64LE(8)) };
}

/** Cut a trailing partial UTF-8 sequence so the next read starts on a character. */
export function utf8Boundary(b: Buffer): number {
  for (let back = 1; back <= Math.min(3, b.length); back++) {
    const c = b[b.length - back] as number;
    if ((c & 0xc0) === 0x80) continue;
    const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return need > back ? b.length - back : b.length;
  }
  return b.length;
}

export function readRing(file: string, offset: number, maxBytes: number): RingRead {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return { data: Buffer.alloc(0), offset, dropped: 0, total: 0 };
  }
  try {
    const first = header(fd);
    const from = Math.min(Math.max(offset, first.total - first.cap), first.total);
    const n = Math.max(0, Math.min(maxBytes, first.total - from));
    const data = Buffer.alloc(n);
    let got = 0;
    while (got < n) {
      const pos = (from + got) % first.cap;
      const len = Math.min(n - got, first.cap - pos);
      readSync(fd, data, got, len, RING_HEADER + pos);
      got += len;
    }
    // Whatever the writer lapped while we read is no longer what we think it is.
    const after = header(fd);
    const lost = Math.max(0, Math.min(n, after.total - after.cap - from));
    const kept = data.subarray(lost);
    const start = from + lost;
    // Never cut everything: a lone partial character (binary output) must still move the reader on.
    const cut = utf8Boundary(kept);
    const whole = cut > 0 ? kept.subarray(0, cut) : kept;
    return { data: whole, offset: start, dropped: Math.max(0, start - offset), total: after.total };
  } finally {
    closeSync(fd);
  }
}

/**
 * The supervisor: a detached `node -e` (CommonJS, no imports of ours, so it
 * runs the same from the built CLI, the API server or the sources). It runs
 * the local command into the sandbox, keeps stdout and stderr interleaved in
 * the ring, and records the exit. argv[1]: the process's directory.
 */
export const SUPERVISOR_JS = `
const fs = require("fs"); const { spawn } = require("child_process");
const dir = process.argv[1];
const spec = JSON.parse(fs.readFileSync(dir + "/spec.json", "utf8"));
const cap = spec.ringBytes; const H = ${RING_HEADER};
const fd = fs.openSync(dir + "/output", "w+", 0o600);
const hdr = Buffer.alloc(H); let total = 0; let done = false;
const header = () => { hdr.writeBigUInt64LE(BigInt(total), 0); hdr.writeBigUInt64LE(BigInt(cap), 8); fs.writeSync(fd, hdr, 0, H, 0); };
const put = (b) => {
  if (b.length > cap) { total += b.length - cap; b = b.subarray(b.length - cap); }
  let pos = total % cap; let off = 0;
  while (off < b.length) { const n = Math.min(b.length - off, cap - pos); fs.writeSync(fd, b, off, n, H + pos); off += n; pos = (pos + n) % cap; }
  total += b.length; header();
};
header();
const finish = (exitCode, signal) => {
  if (done) return; done = true;
  fs.writeFileSync(dir + "/exit.tmp", JSON.stringify({ exitCode, signal, endedAt: new Date().toISOString() }));
  fs.renameSync(dir + "/exit.tmp", dir + "/exit.json");
  process.exit(0);
};
const child = spawn(spec.local[0], spec.local.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
fs.writeFileSync(dir + "/child.pid", String(child.pid || ""));
child.stdout.on("data", put); child.stderr.on("data", put);
child.on("error", (e) => { put(Buffer.from("sandboxer: cannot start: " + e.message + "\\n")); finish(127, null); });
child.on("close", (code, signal) => finish(code, signal));
for (const s of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(s, () => child.kill(s));
`;
