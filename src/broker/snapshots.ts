import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { SandboxerError, toSandboxerError } from "../errors.js";
import { SNAPSHOT_ID_RE } from "../ids.js";
import { crashPoint } from "../faults.js";
import { isSameProcessAlive } from "../proc.js";
import { type Caller, isOperator } from "../tenancy/access.js";
import type { ActorType, Sandbox } from "../types.js";
import { ArchiveSink } from "../snapshots/archive.js";
import { formatDigest, hashFile, parseDigest } from "../snapshots/digest.js";
import type { Snapshot, SnapshotSource } from "../snapshots/types.js";
import type { SnapshotFilter, StoredSnapshot } from "../store/types.js";
import { applyCreate, planFor } from "./create.js";
import { getRow, hostOf, profileOf } from "./destroy.js";
import { restoreRequest } from "./restore-plan.js";
import { eventFor, extensionContext, extensionOf, nowIso, type Runtime } from "./runtime.js";

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const EXT = { "tar+zstd": "tar.zst", "tar+gzip": "tar.gz" } as const;

/** What `restore` may change about the new sandbox; everything else comes from the snapshot. */
export interface RestoreOptions {
  host?: string | undefined;
  ttl?: string | undefined;
  /** Restore into another profile (and so possibly another extension): its own inputs apply. */
  profile?: string | undefined;
  inputs?: Record<string, string> | undefined;
  extension?: string | undefined;
  actor?: string | undefined;
  project?: string | undefined;
  signal?: AbortSignal | undefined;
  /** Who asks (API principal): a tenant's restore is confined like its create. */
  caller?: Caller | undefined;
}

/** The record with its archive's absolute path (rows keep it relative to the snapshots directory). */
function withPath(rt: Runtime, r: StoredSnapshot): Snapshot {
  const { file, sha256: stored, ...rest } = r;
  const d = parseDigest(stored);
  return { ...rest, digest: formatDigest(d), sha256: d.algorithm === "sha256" ? d.hex : null, path: join(rt.paths.snapshots, file) };
}

export async function getSnapshot(rt: Runtime, id: string): Promise<Snapshot> {
  const snap = SNAPSHOT_ID_RE.test(id) ? await rt.store.snapshots.get(id) : undefined;
  if (!snap) throw new SandboxerError("SBX_NOT_FOUND", `no snapshot '${id.slice(0, 64)}' (see: sandboxer snapshots list)`, { details: { id } });
  return withPath(rt, snap);
}

export async function listSnapshots(rt: Runtime, filter: SnapshotFilter = {}): Promise<Snapshot[]> {
  return (await rt.store.snapshots.list(filter)).map((r) => withPath(rt, r));
}

/** Archives whose writer died mid-snapshot (crash, kill -9): `.snap-….<pid>.partial`. */
function removeStalePartials(dir: string): void {
  for (const f of readdirSync(dir)) {
    const m = /^\.snap-[a-z2-7]{12}\.(\d+)\.partial$/.exec(f);
    if (m && !isSameProcessAlive(Number(m[1]), null)) rmSync(join(dir, f), { force: true });
  }
}

/**
 * Archive a ready sandbox's workspace through its extension, then record it.
 * The archive is written to a `.partial` file and renamed only when complete,
 * so a row never points at a half-written archive.
 */
export async function createSnapshot(rt: Runtime, sandboxId: string, opts: { name?: string | undefined; signal?: AbortSignal } = {}): Promise<Snapshot> {
  if (opts.name !== undefined && !NAME_RE.test(opts.name)) {
    throw new SandboxerError("SBX_USAGE", "name: 1-63 characters of [A-Za-z0-9_.-], starting with a letter or digit", { details: { field: "name" } });
  }
  const row = await getRow(rt, sandboxId);
  if (row.state !== "ready" || !row.handle) {
    throw new SandboxerError("SBX_INVALID_STATE", `${row.id} is ${row.state}; only a ready sandbox can be snapshotted`, {
      details: { id: row.id, state: row.state },
    });
  }
  const ext = await extensionOf(rt, row.extension);
  if (!ext.capabilities.snapshot || !ext.snapshot) {
    throw new SandboxerError("SBX_UNSUPPORTED", `${row.extension} cannot snapshot its sandboxes (capabilities.snapshot is false)`, {
      details: { extension: row.extension },
    });
  }
  const dir = rt.paths.snapshots;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  removeStalePartials(dir);
  const id = rt.ids("snap");
  const partial = join(dir, `.${id}.${process.pid}.partial`);
  const sink = new ArchiveSink(partial);
  let final: string | undefined;
  try {
    const ctx = extensionContext(rt, row, await profileOf(rt, row), hostOf(rt, row), opts.signal ?? new AbortController().signal);
    ctx.progress(`snapshot ${id}: archiving the workspace`);
    await ext.snapshot(ctx, row.handle, sink);
    if (!sink.writableFinished) await new Promise<void>((resolve, reject) => sink.once("error", reject).end(resolve));
    crashPoint("snapshot-archived");
    const { digest: d, sizeBytes, format } = sink.result();
    const digest = formatDigest(d);
    if (!format) throw new SandboxerError("SBX_SNAPSHOT_FAILED", `${row.extension} produced no zstd or gzip archive (${sizeBytes} bytes)`);
    const file = `${id}.${EXT[format]}`;
    final = join(dir, file);
    renameSync(partial, final);
    const snap: Snapshot = {
      id,
      name: opts.name ?? null,
      sandboxId: row.id,
      profile: row.profile,
      profileVersion: row.profileVersion,
      extension: row.extension,
      host: row.host,
      inputs: row.inputs,
      actor: row.actor,
      project: row.project,
      format,
      digest,
      sha256: d.algorithm === "sha256" ? d.hex : null,
      sizeBytes,
      path: final,
      createdAt: nowIso(rt),
    };
    await rt.store.tx(async (t) => {
      // The sandbox may have been destroyed while we read it: a torn archive is no checkpoint.
      const now = await t.sandboxes.getForUpdate(row.id);
      if (now?.state !== "ready")
        throw new SandboxerError("SBX_INVALID_STATE", `${row.id} became ${now?.state ?? "missing"} while it was being snapshotted`, {
          details: { id: row.id },
        });
      const { path: _p, digest: _d, ...stored } = snap;
      // The row's digest column keeps the algorithm with the hex (src/store/types.ts).
      await t.snapshots.insert({ ...stored, sha256: digest, file });
      await t.events.append(eventFor(rt, "snapshot.created", row, { snapshot: id, name: snap.name, digest, sizeBytes, format }));
    });
    return snap;
  } catch (err) {
    sink.destroy();
    rmSync(partial, { force: true });
    if (final) rmSync(final, { force: true });
    throw toSandboxerError(err, "SBX_SNAPSHOT_FAILED");
  }
}

export async function deleteSnapshot(rt: Runtime, id: string): Promise<Snapshot> {
  const snap = await getSnapshot(rt, id);
  await rt.store.tx(async (t) => {
    if (!(await t.snapshots.delete(snap.id))) return;
    await t.events.append(
      eventFor(rt, "snapshot.deleted", { id: snap.sandboxId, actor: snap.actor as ActorType, project: snap.project }, { snapshot: snap.id }),
    );
  });
  // After the commit: a crash here leaves a file without a row, never a row without its file.
  rmSync(snap.path, { force: true });
  return snap;
}

/** Refuse before anything is created: a missing or altered archive must not become a sandbox. */
export async function verifySnapshot(snap: Snapshot): Promise<SnapshotSource> {
  if (!existsSync(snap.path)) {
    throw new SandboxerError("SBX_SNAPSHOT_CORRUPT", `snapshot ${snap.id}: archive ${snap.path} is missing; refusing to restore`, { details: { id: snap.id } });
  }
  const want = parseDigest(snap.digest);
  const got = await hashFile(snap.path, want.algorithm);
  if (got.hex !== want.hex || got.sizeBytes !== snap.sizeBytes) {
    throw new SandboxerError(
      "SBX_SNAPSHOT_CORRUPT",
      `snapshot ${snap.id}: archive ${snap.path} does not match its record (${want.algorithm} ${got.hex.slice(0, 12)}… of ${got.sizeBytes} bytes, expected ${want.hex.slice(0, 12)}… of ${snap.sizeBytes}); refusing to restore`,
      { details: { id: snap.id } },
    );
  }
  return { id: snap.id, format: snap.format, digest: snap.digest, sizeBytes: got.sizeBytes, path: snap.path };
}

/**
 * A NEW sandbox through the normal create path (plan, record, provision, ready),
 * with `ctx.restoreFrom` set so the extension fills the workspace before it
 * starts; `snapshot.restored` is written in the same transaction as `ready`.
 */
export async function restoreSnapshot(rt: Runtime, id: string, opts: RestoreOptions = {}): Promise<Sandbox> {
  const snap = await getSnapshot(rt, id);
  // Another project's snapshot does not exist for a tenant (the API checks first; this is the second lock).
  if (!isOperator(opts.caller) && snap.project !== opts.caller?.project)
    throw new SandboxerError("SBX_NOT_FOUND", `no snapshot '${id.slice(0, 64)}'`, { details: { id } });
  const req = await restoreRequest(rt, snap, opts);
  const plan = await planFor(rt, req, { restoring: true });
  const ext = await extensionOf(rt, plan.route.chosen);
  if (!ext.capabilities.restore) {
    throw new SandboxerError("SBX_UNSUPPORTED", `${plan.route.chosen} cannot restore snapshots (capabilities.restore is false)`, {
      details: { extension: plan.route.chosen },
    });
  }
  const source = await verifySnapshot(snap);
  return applyCreate(rt, req, {
    ...(opts.signal ? { signal: opts.signal } : {}),
    restoreFrom: source,
    onReady: (row, t) => t.events.append(eventFor(rt, "snapshot.restored", row, { snapshot: snap.id, from: snap.sandboxId, digest: snap.digest })),
  });
}
