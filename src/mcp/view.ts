/**
 * What a principal is shown of a record. Every record or snapshot a tool
 * returns passes through here, so what tenants see (no server paths) is
 * decided in one place for MCP, as for the API.
 */
import type { Principal } from "../api/tokens.js";
import type { Profile } from "../catalog/schema.js";
import type { Snapshot } from "../snapshots/types.js";
import type { Sandbox } from "../types.js";

export function sandboxView(_p: Principal, sb: Sandbox): Sandbox {
  return sb;
}

/** The archive path is a server detail: only operators see it (as in GET /v1/snapshots). */
export function snapshotView(p: Principal, s: Snapshot): Omit<Snapshot, "path"> & { path?: string } {
  if (p.actor === "adm") return s;
  const { path: _path, ...rest } = s;
  return rest;
}

/** The profiles a principal is offered (all of them until profiles carry `access`). */
export function profilesFor(_p: Principal, profiles: Profile[]): Profile[] {
  return profiles;
}
