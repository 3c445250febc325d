/**
 * What a principal is shown of a record, an event or a snapshot. Every value
 * the dashboard renders for a principal passes through `viewOf`, so the
 * tenancy view (src/tenancy/view.ts: recordFor / eventFor / snapshotFor,
 * which strip server paths for tenants) is switched on here, in one place.
 * Until then it gives tenants exactly what the API gives them.
 */
import type { Principal } from "../api/tokens.js";
import type { Snapshot } from "../snapshots/types.js";
import type { Sandbox, SandboxEvent } from "../types.js";

export type SnapshotView = Omit<Snapshot, "path"> & { path?: string };

const isEvent = (x: Sandbox | SandboxEvent | Snapshot): x is SandboxEvent => "seq" in x && "type" in x;
const isSnapshot = (x: Sandbox | SandboxEvent | Snapshot): x is Snapshot => "sha256" in x;

export function viewOf(p: Principal, x: Sandbox): Sandbox;
export function viewOf(p: Principal, x: SandboxEvent): SandboxEvent;
export function viewOf(p: Principal, x: Snapshot): SnapshotView;
export function viewOf(p: Principal, x: Sandbox | SandboxEvent | Snapshot): Sandbox | SandboxEvent | SnapshotView {
  if (p.actor === "adm") return x;
  if (isEvent(x)) return x;
  if (isSnapshot(x)) {
    // As GET /v1/snapshots answers tenants: the archive path is a server detail.
    const { path: _path, ...rest } = x;
    return rest;
  }
  return x;
}
