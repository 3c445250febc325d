/** Snapshot vocabulary (DESIGN.md: "snapshot: point-in-time workspace checkpoint `snap-<...>`"). */

export const ARCHIVE_FORMATS = ["tar+zstd", "tar+gzip"] as const;
export type ArchiveFormat = (typeof ARCHIVE_FORMATS)[number];

/** The snapshot record, as printed by `snapshots get --json` and stored. */
export interface Snapshot {
  id: string;
  /** Optional label from `--name`. */
  name: string | null;
  /** The sandbox it was taken from (which may since be destroyed). */
  sandboxId: string;
  profile: string;
  profileVersion: number;
  extension: string;
  host: string;
  /** The source sandbox's resolved inputs: restore creates with the same ones. */
  inputs: Record<string, string>;
  actor: string;
  project: string | null;
  format: ArchiveFormat;
  /**
   * The archive's digest, `<algorithm>:<hex>`, verified before every restore:
   * `blake3:…` (b3sum), or `sha256:…` (snapshots made before BLAKE3, or where b3sum is missing).
   */
  digest: string;
  /** The hex SHA-256 when that is the digest's algorithm, else null (kept for readers of older records). */
  sha256: string | null;
  sizeBytes: number;
  /** Absolute path of the archive under $SANDBOXER_HOME/snapshots/. */
  path: string;
  createdAt: string;
}

/**
 * What an extension gets in `ctx.restoreFrom` when the broker creates a
 * sandbox from a snapshot: a verified archive on this machine. The extension
 * fills its workspace from it (see `extractArchive` in ./archive.ts) before
 * starting anything, so the sandbox never runs on a half-filled workspace.
 */
export interface SnapshotSource {
  id: string;
  format: ArchiveFormat;
  /** `<algorithm>:<hex>` of the archive, already verified. */
  digest: string;
  sizeBytes: number;
  /** Local path of the archive (streamed to remote hosts over the host's transport). */
  path: string;
}
