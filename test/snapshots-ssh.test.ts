import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArchiveSink, archiveDir, extractArchive } from "../src/snapshots/archive.js";
import { formatDigest, hashFile } from "../src/snapshots/digest.js";
import { sshTransport } from "../src/transport/ssh.js";
import type { Host } from "../src/types.js";
import { type Sshd, startSshd } from "./fixtures/sshd.js";

/**
 * The workspace-archive helpers that remote extensions use (compose-ssh,
 * vm-packer attach) against a real sshd on loopback: the archive is made on
 * the host and comes back over the one multiplexed SSH connection.
 */
describe("workspace archives over SSH", () => {
  let sshd: Sshd;
  let dir: string;
  const host: Host = { name: "sbx-test-host", labels: [] };

  beforeAll(async () => {
    sshd = await startSshd();
    dir = mkdtempSync(join(tmpdir(), "sbx-snap-ssh-"));
  });
  afterAll(async () => {
    await sshd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("archives a remote workspace into a local file and restores it into another remote dir, over one handshake", { timeout: 240_000 }, async () => {
    const t = sshTransport({ host, env: { ...process.env, SANDBOXER_SSH_CONFIG: sshd.configFile }, runDir: join(dir, "run") });
    try {
      // "Remote" is this machine behind sshd; a name with a space and a quote proves the quoting.
      const remote = join(dir, "host", "work space's");
      mkdirSync(join(remote, "sub"), { recursive: true });
      writeFileSync(join(remote, "sub", "a.txt"), "alpha\n");
      writeFileSync(join(remote, "big.bin"), Buffer.alloc(3 * 1024 * 1024, 7));
      const before = sshd.handshakes();

      const file = join(dir, "snap.tar.zst");
      const sink = new ArchiveSink(file);
      await archiveDir(t, remote, sink);
      const made = sink.result();
      expect(made.format).toBe("tar+zstd");
      expect(made.digest.algorithm).toBe("blake3");
      expect(await hashFile(file, "blake3")).toEqual({ ...made.digest, sizeBytes: made.sizeBytes });

      const into = join(dir, "host", "restored; rm -rf /tmp/x");
      await extractArchive(t, into, { id: "snap-test", format: "tar+zstd", digest: formatDigest(made.digest), sizeBytes: made.sizeBytes, path: file });
      const diff = execFileSync("diff", ["-r", remote, into]).toString();
      expect(diff).toBe("");
      expect(sshd.handshakes() - before).toBeLessThanOrEqual(1);

      // A failing remote tar fails the archive with the host's message, not an empty snapshot.
      const sink2 = new ArchiveSink(join(dir, "missing.tar.zst"));
      await expect(archiveDir(t, join(dir, "host", "nope"), sink2)).rejects.toMatchObject({ code: "SBX_SNAPSHOT_FAILED" });
      sink2.destroy();
    } finally {
      await t.close();
    }
  });

  it("a sink fed by a writer rather than a command hashes as it writes, with either algorithm", async () => {
    const data = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(5 * 1024 * 1024, 3)]);
    for (const algorithm of ["blake3", "sha256"] as const) {
      const file = join(dir, `written-${algorithm}.bin`);
      const sink = new ArchiveSink(file, algorithm);
      await pipeline(Readable.from([data.subarray(0, 1000), data.subarray(1000)]), sink);
      const made = sink.result();
      expect(made).toMatchObject({ sizeBytes: data.length, format: "tar+zstd", digest: { algorithm } });
      expect(await hashFile(file, algorithm)).toEqual({ ...made.digest, sizeBytes: data.length });
      const expected = algorithm === "sha256" ? createHash("sha256").update(data).digest("hex") : execFileSync("b3sum", ["--no-names", file]).toString().trim();
      expect(made.digest.hex).toBe(expected);
    }
  });
});
