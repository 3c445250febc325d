import type { ArchiveFormat } from "../snapshots/types.js";
import type { Sandbox, SandboxRow } from "../types.js";
import type { OwnerRef, StoredSnapshot } from "./types.js";

/** camelCase record field -> snake_case column; JSON columns are (de)serialised. */
const COLUMNS: Record<keyof SandboxRow, string> = {
  id: "id",
  profile: "profile",
  profileVersion: "profile_version",
  extension: "extension",
  mode: "mode",
  host: "host",
  state: "state",
  actor: "actor",
  project: "project",
  inputs: "inputs",
  createdAt: "created_at",
  readyAt: "ready_at",
  expiresAt: "expires_at",
  destroyedAt: "destroyed_at",
  reason: "reason",
  reachability: "reachability",
  route: "route",
  cost: "cost",
  error: "error",
  hostFacts: "host_facts",
  ttlSeconds: "ttl_seconds",
  handle: "handle",
  ownerPid: "owner_pid",
  ownerStart: "owner_start",
  ownerReplica: "owner_replica",
  ownerBeatAt: "owner_beat_at",
  pool: "pool",
  poolStage: "pool_stage",
  updatedAt: "updated_at",
};

const JSON_FIELDS = new Set<keyof SandboxRow>(["inputs", "reachability", "route", "cost", "error", "hostFacts", "handle"]);

export function toColumns(patch: Partial<SandboxRow>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(patch) as [keyof SandboxRow, unknown][]) {
    const col = COLUMNS[key];
    if (!col || value === undefined) continue;
    out[col] = JSON_FIELDS.has(key) && value !== null ? JSON.stringify(value) : value;
  }
  return out;
}

/** Field, column and whether it holds JSON, worked out once (every read of a record walks it). */
const FIELDS = (Object.entries(COLUMNS) as [keyof SandboxRow, string][]).map(([key, col]) => [key, col, JSON_FIELDS.has(key)] as const);
const PRIVATE = new Set<keyof SandboxRow>(["handle", "ownerPid", "ownerStart", "ownerReplica", "ownerBeatAt", "pool", "poolStage"]);
const PUBLIC_FIELDS = FIELDS.filter(([key]) => !PRIVATE.has(key)).map(([key]) => key);

/** The record's columns in FIELDS order: `SELECT ${SELECT_COLUMNS}` read in raw (array) mode feeds `fromValues`. */
export const SELECT_COLUMNS = FIELDS.map(([, col]) => col).join(", ");

/** The public record's columns in order (no handle, no owner): reads that only show a record skip parsing the rest. */
const PUBLIC_FIELD_DEFS = FIELDS.filter(([key]) => !PRIVATE.has(key));
export const PUBLIC_COLUMNS = PUBLIC_FIELD_DEFS.map(([, col]) => col).join(", ");

function build(defs: typeof FIELDS, v: readonly unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < defs.length; i++) {
    const [key, , json] = defs[i] as (typeof FIELDS)[number];
    const x = v[i] ?? null;
    out[key] = json && typeof x === "string" ? JSON.parse(x) : x;
  }
  return out;
}

/** A record from a raw row of SELECT_COLUMNS: arrays are cheaper to read than one object per row. */
export function fromValues(v: readonly unknown[]): SandboxRow {
  return build(FIELDS, v) as unknown as SandboxRow;
}

/** A public record from a raw row of PUBLIC_COLUMNS. */
export function publicFromValues(v: readonly unknown[]): Sandbox {
  return build(PUBLIC_FIELD_DEFS, v) as unknown as Sandbox;
}

/** A record from a row of named columns (drivers that return objects: Postgres). */
export function fromRow(r: Record<string, unknown>): SandboxRow {
  const out: Record<string, unknown> = {};
  for (const [key, col, json] of FIELDS) {
    const x = r[col] ?? null;
    out[key] = json && typeof x === "string" ? JSON.parse(x) : x;
  }
  return out as unknown as SandboxRow;
}

/** The public record: the private crash-recovery columns are left out. */
export function publicRecord(row: SandboxRow): Sandbox {
  const pub: Record<string, unknown> = {};
  for (const key of PUBLIC_FIELDS) pub[key] = row[key];
  return pub as unknown as Sandbox;
}

/** A snapshots row (same columns on SQLite and PostgreSQL) as the store hands it out. */
export function snapshotFromRow(r: Record<string, unknown>): StoredSnapshot {
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
    file: r.file as string,
    createdAt: r.created_at as string,
  };
}

/** Does `owner` hold the row (the transition guard)? A row without a replica belongs to this replica (records from before replicas). */
export function heldBy(row: SandboxRow, owner: OwnerRef): boolean {
  return row.ownerPid === owner.pid && (row.ownerStart ?? null) === owner.start && (row.ownerReplica ?? owner.replica) === owner.replica;
}

/** The records judged by their owner (and so heartbeated by it): the union below, as one condition. */
export const OWNED_WHERE =
  "(state IN ('requested', 'provisioning', 'destroying') OR (state = 'failed' AND destroyed_at IS NULL) OR (pool IS NOT NULL AND pool_stage IN ('claimed', 'applying') AND state = 'ready'))";

/**
 * What a reconcile judges by its owner (SandboxRepo.suspects), as three
 * disjoint index reads (state; undestroyed state; pool stage) rather than an
 * OR the planner might scan the table for. Same text on both stores.
 */
export function suspectsSql(columns: string): string {
  return [
    `SELECT ${columns} FROM sandboxes WHERE state IN ('requested', 'provisioning', 'destroying')`,
    `SELECT ${columns} FROM sandboxes WHERE state = 'failed' AND destroyed_at IS NULL`,
    `SELECT ${columns} FROM sandboxes WHERE pool IS NOT NULL AND pool_stage IN ('claimed', 'applying') AND state = 'ready'`,
  ]
    .join(" UNION ALL ")
    .concat(" ORDER BY created_at, id");
}
