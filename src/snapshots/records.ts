import { join } from "node:path";
import type { SqliteStore } from "../store/sqlite.js";
import type { ArchiveFormat, Snapshot } from "./types.js";

/**
 * Snapshot rows. The `file` column is relative to the snapshots directory so
 * a moved $SANDBOXER_HOME keeps working; `path` is resolved on the way out.
 */
export interface SnapshotFilter {
  sandboxId?: string | undefined;
  profile?: string | undefined;
  project?: string | undefined;
}

function fromRow(dir: string, r: Record<string, unknown>): Snapshot {
  return {
    id: r.id as string,
    name: (r.name as string | null) ?? null,
    sandboxId: r.sandbox_id as string,
    profile: r.profile as string,
    profileVersion: r.profile_version as number,
    extension: r.extension as string,
    host: r.host as string,
    inputs: JSON.parse(r.inputs as string) as Record<string, string>,
    actor: r.actor as string,
    project: (r.project as string | null) ?? null,
    format: r.format as ArchiveFormat,
    sha256: r.sha256 as string,
    sizeBytes: r.size_bytes as number,
    path: join(dir, r.file as string),
    createdAt: r.created_at as string,
  };
}

export function insertSnapshot(store: SqliteStore, snap: Snapshot, file: string): void {
  store.db
    .prepare(
      `INSERT INTO snapshots (id, name, sandbox_id, profile, profile_version, extension, host, inputs, actor, project, format, sha256, size_bytes, file, created_at)
       VALUES (@id, @name, @sandboxId, @profile, @profileVersion, @extension, @host, @inputs, @actor, @project, @format, @sha256, @sizeBytes, @file, @createdAt)`,
    )
    .run({
      id: snap.id,
      name: snap.name,
      sandboxId: snap.sandboxId,
      profile: snap.profile,
      profileVersion: snap.profileVersion,
      extension: snap.extension,
      host: snap.host,
      inputs: JSON.stringify(snap.inputs),
      actor: snap.actor,
      project: snap.project,
      format: snap.format,
      sha256: snap.sha256,
      sizeBytes: snap.sizeBytes,
      file,
      createdAt: snap.createdAt,
    });
}

export function getSnapshotRow(store: SqliteStore, dir: string, id: string): Snapshot | undefined {
  const r = store.db.prepare("SELECT * FROM snapshots WHERE id = ?").get(id) as Record<string, unknown> | undefined;
  return r ? fromRow(dir, r) : undefined;
}

export function listSnapshotRows(store: SqliteStore, dir: string, filter: SnapshotFilter = {}): Snapshot[] {
  const where: string[] = [];
  const args: Record<string, unknown> = {};
  if (filter.sandboxId) {
    where.push("sandbox_id = @sandboxId");
    args.sandboxId = filter.sandboxId;
  }
  if (filter.profile) {
    where.push("profile = @profile");
    args.profile = filter.profile;
  }
  if (filter.project) {
    where.push("project = @project");
    args.project = filter.project;
  }
  const sql = `SELECT * FROM snapshots ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at, id`;
  return (store.db.prepare(sql).all(args) as Record<string, unknown>[]).map((r) => fromRow(dir, r));
}

export function deleteSnapshotRow(store: SqliteStore, id: string): boolean {
  return store.db.prepare("DELETE FROM snapshots WHERE id = ?").run(id).changes > 0;
}
