/**
 * Who owns an in-flight record (a create provisioning, a destroy tearing
 * down), and how another process decides that owner is gone.
 *
 * The owner is a replica id (SANDBOXER_REPLICA_ID, default the host name: one
 * machine or container, one pid namespace) + pid + process start time, and a
 * heartbeat the owner stamps on its records every lease/6. A process on the
 * same replica judges by the pid (exact and at once: kill -9 is seen
 * immediately); one on another replica cannot see that pid and judges by the
 * heartbeat's age instead (dead once older than the lease). Replicas'
 * clocks should agree within a small part of the lease (NTP).
 */
import { hostname } from "node:os";
import { SandboxerError } from "../errors.js";
import type { Env } from "../paths.js";
import { isSameProcessAlive, SELF } from "../proc.js";
import { heldBy } from "../store/rows.js";
import type { OwnerRef, SandboxUpdate, Store } from "../store/types.js";
import type { SandboxRow } from "../types.js";

export interface Owner extends OwnerRef {
  /** A heartbeat older than this means the owner is gone (SANDBOXER_OWNER_LEASE, seconds; default 30). */
  leaseMs: number;
}

const REPLICA_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/;

export function ownerFromEnv(env: Env): Owner {
  const replica = env.SANDBOXER_REPLICA_ID || hostname() || "localhost";
  if (!REPLICA_RE.test(replica)) {
    throw new SandboxerError("SBX_CONFIG_INVALID", `SANDBOXER_REPLICA_ID: '${replica.slice(0, 40)}' must be 1-100 letters, digits, '.', '_', ':', '-'`, {
      details: { field: "SANDBOXER_REPLICA_ID" },
    });
  }
  const lease = env.SANDBOXER_OWNER_LEASE ? Number(env.SANDBOXER_OWNER_LEASE) : 30;
  if (!Number.isFinite(lease) || lease < 1 || lease > 3600) {
    throw new SandboxerError("SBX_CONFIG_INVALID", "SANDBOXER_OWNER_LEASE: seconds from 1 to 3600", { details: { field: "SANDBOXER_OWNER_LEASE" } });
  }
  return { replica, pid: SELF.pid, start: SELF.start, leaseMs: lease * 1000 };
}

/** The owner columns of a record this process takes over (its heartbeat starts now). */
export function ownedBy(owner: Owner): { ownerPid: number; ownerStart: string | null; ownerReplica: string; ownerBeatAt: string } {
  return { ownerPid: owner.pid, ownerStart: owner.start, ownerReplica: owner.replica, ownerBeatAt: new Date().toISOString() };
}

/** The owner columns of a record nobody works on. */
export const NO_OWNER: SandboxUpdate = { ownerPid: null, ownerStart: null, ownerReplica: null, ownerBeatAt: null };

/** Is the process that owns `row` still at work on it? */
export function ownerAlive(me: Owner, row: SandboxRow, now: number = Date.now()): boolean {
  if (!row.ownerPid) return false;
  // Records written before replicas (no replica) were owned on this machine.
  if (!row.ownerReplica || row.ownerReplica === me.replica) return isSameProcessAlive(row.ownerPid, row.ownerStart);
  const beat = Date.parse(row.ownerBeatAt ?? "");
  return Number.isFinite(beat) && now - beat < me.leaseMs;
}

/** Is `row` owned by this very process? */
export function ownsRecord(me: Owner, row: SandboxRow): boolean {
  return heldBy(row, me);
}

/** Does this process (replica, pid and start) own `row`? */
export function ownedByMe(me: Owner, row: SandboxRow): boolean {
  return row.ownerPid === me.pid && (row.ownerStart ?? null) === me.start && (row.ownerReplica ?? null) === me.replica;
}

/** Same owner columns: nobody took the record over since it was read. */
export function sameOwner(a: SandboxRow, b: SandboxRow): boolean {
  return a.ownerPid === b.ownerPid && a.ownerStart === b.ownerStart && (a.ownerReplica ?? null) === (b.ownerReplica ?? null);
}

/** Stamp this process's heartbeat on its records every lease/6 until stopped (never keeps the process alive). */
export function startHeartbeat(store: Store, owner: Owner): { stop(): void } {
  const timer = setInterval(
    () => {
      store.sandboxes.heartbeat(owner, new Date().toISOString()).catch(() => {});
    },
    Math.max(200, Math.floor(owner.leaseMs / 6)),
  );
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
