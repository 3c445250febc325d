/**
 * What a principal is shown. Every record, snapshot, event-derived progress
 * note, profile and error message a tool returns passes through here, so MCP
 * answers tenants exactly as the API does (src/tenancy/view.ts: no server
 * paths; src/tenancy/access.ts: only the profiles they may use).
 */
import type { Principal } from "../api/tokens.js";
import type { Profile } from "../catalog/schema.js";
import type { Snapshot } from "../snapshots/types.js";
import { mayUse } from "../tenancy/access.js";
import { eventFor, recordFor, redactText, snapshotFor } from "../tenancy/view.js";
import type { Sandbox, SandboxEvent } from "../types.js";

export function sandboxView(p: Principal, sb: Sandbox): Sandbox {
  return recordFor(p, sb);
}

export function snapshotView(p: Principal, s: Snapshot): Omit<Snapshot, "path"> & { path?: string } {
  return snapshotFor(p, s);
}

export function eventView(p: Principal, e: SandboxEvent): SandboxEvent {
  return eventFor(p, e);
}

/** The profiles a principal may create from. */
export function profilesFor(p: Principal, profiles: Profile[]): Profile[] {
  return profiles.filter((profile) => mayUse(profile, p));
}

/** An error message as this principal may read it (a failed provision may quote a log or a directory). */
export function messageFor(p: Principal | undefined, message: string): string {
  return p && p.actor !== "adm" ? redactText(message) : message;
}
