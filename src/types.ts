/** Shared vocabulary. Names here are the public contract in DESIGN.md. */

export const SANDBOX_STATES = ["requested", "provisioning", "ready", "failed", "destroying", "destroyed", "destroy_failed"] as const;
export type SandboxState = (typeof SANDBOX_STATES)[number];

export const ACTOR_TYPES = ["adm", "agt", "atm"] as const;
export type ActorType = (typeof ACTOR_TYPES)[number];

export const DESTROY_REASONS = ["user", "ttl", "reap", "failed-provision"] as const;
export type DestroyReason = (typeof DESTROY_REASONS)[number];

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** Opaque, JSON-serialisable handle an extension returns from provision. */
export type Handle = JsonObject;

/** A plain-data value (typed records, interfaces without index signatures) as JSON: undefined fields dropped. */
export function jsonObject(value: object): JsonObject {
  return JSON.parse(JSON.stringify(value)) as JsonObject;
}

export interface RouteRejection {
  extension: string;
  why: string;
}

/** What routing expected of one usable candidate (src/routing/). */
export interface RouteEstimate {
  extension: string;
  kind: "self-hosted" | "metered";
  pricePerHour: number;
  readySeconds: number;
  readySource: string;
  host?: string;
  /** Warm pool members on this candidate: a create here is a claim. */
  warm?: number;
}

/** One provision attempt that failed with a retryable error before the broker moved on. */
export interface RouteAttempt {
  extension: string;
  code: string;
  message: string;
  at: string;
}

export interface RouteDecision {
  chosen: string;
  strategy: string;
  reason: string;
  rejected: RouteRejection[];
  /** Usable candidates, best first: the failover order. */
  order?: string[];
  estimates?: RouteEstimate[];
  /** The host routing found room on, for a self-hosted choice. */
  host?: string;
  /** Earlier candidates that failed to provision (retryable) on this record. */
  attempts?: RouteAttempt[];
  /** The warm pool that matched this create (src/broker/pools-claim.ts): whether a member served it, and why not. */
  pool?: RoutePool;
}

export interface RoutePool {
  key: string;
  /** Warm members per candidate extension when routing decided. */
  warm: Record<string, number>;
  /** A pool member served this create (set on the record at claim). */
  served?: boolean;
  claimedAt?: string;
  why?: string;
}

export interface SandboxError {
  code: string;
  message: string;
}

/** The sandbox record, as printed by `get --json` and stored (handle/owner kept private). */
export interface Sandbox {
  id: string;
  profile: string;
  profileVersion: number;
  extension: string;
  mode: string | null;
  host: string;
  state: SandboxState;
  actor: ActorType;
  project: string | null;
  inputs: Record<string, string>;
  createdAt: string;
  readyAt: string | null;
  expiresAt: string | null;
  destroyedAt: string | null;
  reason: DestroyReason | null;
  reachability: JsonObject | null;
  route: RouteDecision | null;
  cost: JsonObject | null;
  error: SandboxError | null;
  hostFacts: JsonObject | null;
  ttlSeconds: number | null;
  updatedAt: string;
}

/** Private columns the broker needs for crash recovery. */
export interface SandboxRow extends Sandbox {
  handle: Handle | null;
  ownerPid: number | null;
  ownerStart: string | null;
  /** The replica (SANDBOXER_REPLICA_ID, default the host name) of the owner process; null for records from before replicas. */
  ownerReplica?: string | null;
  /** The owner's last heartbeat: replicas judge another replica's owner by its age. */
  ownerBeatAt?: string | null;
  /** The warm pool this record belongs to (its key) until a create claims it; such records are never shown to consumers. */
  pool?: string | null;
  /** Where a pool member is: warming, warm (ready, unclaimed), claimed, applying (per-request work). */
  poolStage?: PoolStage | null;
}

export const POOL_STAGES = ["warming", "warm", "claimed", "applying"] as const;
export type PoolStage = (typeof POOL_STAGES)[number];

export interface SandboxEvent {
  seq: number;
  id: string;
  type: string;
  sandboxId: string | null;
  at: string;
  actor: string | null;
  project: string | null;
  data: JsonObject;
}

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export interface SshTarget {
  host: string;
  user?: string | undefined;
  port?: number | undefined;
  identityFile?: string | undefined;
  /** An SSH user certificate (ops-warden), passed to ssh as CertificateFile. */
  certificate?: string | undefined;
}

/** A Kubernetes cluster as a placement target (ext.kubernetes): reached with a kubeconfig, never over SSH. */
export interface ClusterTarget {
  /** The kubeconfig context; default: the kubeconfig's current context. */
  context?: string | undefined;
  /** The namespace for every project not listed in `namespaces` (default: the context's, else "default"). */
  namespace?: string | undefined;
  /** One namespace per project; with no `namespace` beside it, unlisted projects are refused. */
  namespaces?: Record<string, string> | undefined;
}

export interface Host {
  name: string;
  ssh?: SshTarget | undefined;
  cluster?: ClusterTarget | undefined;
  compose?: string | undefined;
  workspaceRoot?: string | undefined;
  labels: string[];
  maxSandboxes?: number | undefined;
}

export const LOCALHOST: Host = { name: "localhost", labels: ["local"] };
