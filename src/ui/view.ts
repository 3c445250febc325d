/**
 * What a principal is shown of a record, an event, a snapshot or a message.
 * Every value the dashboard renders for a principal passes through here, and
 * here only through the tenancy view the API answers with
 * (src/tenancy/view.ts): operators see everything, tenants no server paths.
 */
import type { Principal } from "../api/tokens.js";
import type { Snapshot } from "../snapshots/types.js";
import { eventFor, recordFor, redactText, snapshotFor } from "../tenancy/view.js";
import type { Sandbox, SandboxEvent } from "../types.js";

export type SnapshotView = Omit<Snapshot, "path"> & { path?: string };

const isEvent = (x: Sandbox | SandboxEvent | Snapshot): x is SandboxEvent => "seq" in x && "type" in x;
const isSnapshot = (x: Sandbox | SandboxEvent | Snapshot): x is Snapshot => "sha256" in x;

export function viewOf(p: Principal, x: Sandbox): Sandbox;
export function viewOf(p: Principal, x: SandboxEvent): SandboxEvent;
export function viewOf(p: Principal, x: Snapshot): SnapshotView;
export function viewOf(p: Principal, x: Sandbox | SandboxEvent | Snapshot): Sandbox | SandboxEvent | SnapshotView {
  if (isEvent(x)) return eventFor(p, x);
  if (isSnapshot(x)) return snapshotFor(p, x);
  return recordFor(p, x);
}

/** An error message as the API's error handler answers it: tenants get it without server paths. */
export const messageFor = (p: Principal | null, text: string): string => (p && p.actor !== "adm" ? redactText(text) : text);
