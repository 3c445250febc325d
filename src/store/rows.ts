import type { Sandbox, SandboxRow } from "../types.js";

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

export function fromRow(r: Record<string, unknown>): SandboxRow {
  const out: Record<string, unknown> = {};
  for (const [key, col] of Object.entries(COLUMNS) as [keyof SandboxRow, string][]) {
    const v = r[col] ?? null;
    out[key] = JSON_FIELDS.has(key) && typeof v === "string" ? JSON.parse(v) : v;
  }
  return out as unknown as SandboxRow;
}

/** The public record: the private crash-recovery columns are left out. */
export function publicRecord(row: SandboxRow): Sandbox {
  const { handle: _h, ownerPid: _p, ownerStart: _s, ...pub } = row;
  return pub;
}
