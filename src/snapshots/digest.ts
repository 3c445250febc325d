/**
 * Archive digests: `<algorithm>:<hex>`. New snapshots are hashed with BLAKE3
 * by Debian's `b3sum` (SIMD, a small fraction of the CPU SHA-256 costs, which
 * matters while `zstd -T0` already uses every core); SHA-256 in-process is the
 * fallback where b3sum is missing, and what snapshots made before BLAKE3 carry
 * (their records hold a bare hex digest, read as `sha256:`). Either kind is
 * verified before every restore.
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash, type Hash } from "node:crypto";
import { createReadStream, statSync } from "node:fs";
import { SandboxerError } from "../errors.js";

export const HASH_ALGORITHMS = ["blake3", "sha256"] as const;
export type HashAlgorithm = (typeof HASH_ALGORITHMS)[number];

export interface Digest {
  algorithm: HashAlgorithm;
  hex: string;
}

/** A stored digest: `blake3:<hex>`, `sha256:<hex>`, or a bare hex (records from before BLAKE3: sha256). */
export function parseDigest(stored: string): Digest {
  const m = /^(blake3|sha256):([0-9a-f]{64})$/.exec(stored);
  if (m) return { algorithm: m[1] as HashAlgorithm, hex: m[2] as string };
  return { algorithm: "sha256", hex: stored };
}

export const formatDigest = (d: Digest): string => `${d.algorithm}:${d.hex}`;

const B3SUM = "b3sum";
let b3sumOk: boolean | undefined;

/** Is `b3sum` installed here? Asked once per process. */
export function haveB3sum(): boolean {
  b3sumOk ??= spawnSync(B3SUM, ["--version"], { stdio: "ignore" }).status === 0;
  return b3sumOk;
}

/** The algorithm new archives get on this machine. */
export const preferredAlgorithm = (): HashAlgorithm => (haveB3sum() ? "blake3" : "sha256");

/**
 * Hashes a stream chunk by chunk. BLAKE3 runs in a `b3sum` child fed through
 * a pipe (its CPU is not node's); `update` resolves once the pipe took the
 * chunk, so a slow hasher slows the stream instead of buffering it.
 */
export class StreamHasher {
  private readonly sha?: Hash;
  private readonly child?: ReturnType<typeof spawn>;
  private readonly out: Promise<string> | undefined;

  constructor(readonly algorithm: HashAlgorithm) {
    if (algorithm === "sha256") {
      this.sha = createHash("sha256");
      return;
    }
    const child = spawn(B3SUM, ["--no-names"], { stdio: ["pipe", "pipe", "pipe"] });
    this.child = child;
    this.out = new Promise((resolve, reject) => {
      let stdout = "";
      let stderr = "";
      child.stdout?.on("data", (d: Buffer) => {
        stdout += d.toString();
      });
      child.stderr?.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      child.on("error", reject);
      child.on("close", (code) => {
        const hex = stdout.trim();
        if (code === 0 && /^[0-9a-f]{64}$/.test(hex)) resolve(hex);
        else reject(new SandboxerError("SBX_SNAPSHOT_FAILED", `b3sum failed (exit ${code}): ${stderr.trim().slice(-200)}`));
      });
    });
    // Not awaited until digest(): keep an early failure from being unhandled.
    this.out.catch(() => undefined);
    child.stdin?.on("error", () => undefined);
  }

  update(chunk: Buffer): Promise<void> | undefined {
    if (this.sha) {
      this.sha.update(chunk);
      return undefined;
    }
    const stdin = this.child?.stdin;
    if (!stdin || stdin.write(chunk)) return undefined;
    return new Promise((resolve) => {
      const done = () => {
        stdin.off("drain", done);
        stdin.off("close", done);
        resolve();
      };
      stdin.on("drain", done);
      stdin.on("close", done);
    });
  }

  async digest(): Promise<Digest> {
    if (this.sha) return { algorithm: "sha256", hex: this.sha.digest("hex") };
    this.child?.stdin?.end();
    return { algorithm: "blake3", hex: await (this.out as Promise<string>) };
  }

  /** Stop without a digest (the snapshot failed). */
  abort(): void {
    this.child?.kill("SIGKILL");
  }
}

/** Digest of a file with `algorithm` (restore verifies before it creates anything). */
export async function hashFile(path: string, algorithm: HashAlgorithm): Promise<Digest & { sizeBytes: number }> {
  if (algorithm === "blake3" && !haveB3sum()) {
    throw new SandboxerError("SBX_DEPENDENCY_MISSING", `b3sum is needed to verify ${path} (a BLAKE3 digest): apt-get install b3sum`);
  }
  if (algorithm === "blake3") {
    // b3sum reads a file by mmap on every core: faster than feeding it a pipe.
    const r = await new Promise<{ code: number | null; out: string; err: string }>((resolve, reject) => {
      const child = spawn(B3SUM, ["--no-names", "--", path], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
      });
      child.stderr.on("data", (d: Buffer) => {
        err += d.toString();
      });
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, out, err }));
    });
    const hex = r.out.trim();
    if (r.code !== 0 || !/^[0-9a-f]{64}$/.test(hex))
      throw new SandboxerError("SBX_SNAPSHOT_CORRUPT", `cannot read ${path}: ${r.err.trim().slice(-200) || `b3sum exit ${r.code}`}`);
    return { algorithm, hex, sizeBytes: statSync(path).size };
  }
  const hasher = new StreamHasher(algorithm);
  let size = 0;
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
      size += (chunk as Buffer).length;
      await hasher.update(chunk as Buffer);
    }
  } catch (err) {
    hasher.abort();
    throw err;
  }
  return { ...(await hasher.digest()), sizeBytes: size };
}
