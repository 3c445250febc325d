import type { Writable } from "node:stream";
import type { z } from "zod";
import type { Profile } from "../catalog/schema.js";
import type { Env, Paths } from "../config.js";
import type { SnapshotSource } from "../snapshots/types.js";
import type { Transport } from "../transport/types.js";
import type { Clock, Handle, Host, JsonObject, Sandbox } from "../types.js";

export type ExtensionKind = "self-hosted" | "metered";

export interface Capabilities {
  snapshot: boolean;
  restore: boolean;
  build: boolean;
  exec: boolean;
  /** `exec --service NAME` picks the container (compose stacks); others refuse the option. */
  execService?: boolean;
  /** GPU sandboxes (profiles ask with `settings.requires: [gpu]`). */
  gpu?: boolean;
  /** Enforces the profile's `limits` (processes, memory, disk, cpu); see src/catalog/limits.ts. */
  limits?: boolean;
}

export interface ProgressOptions {
  percent?: number;
}

/** What the broker hands every extension call. Extensions never touch the store or events. */
export interface ExtensionContext {
  sandbox: Sandbox;
  profile: Profile;
  host: Host;
  transport: Transport;
  paths: Paths;
  env: Env;
  clock: Clock;
  signal: AbortSignal;
  progress(message: string, opts?: ProgressOptions): void;
  /**
   * Persist a partial handle as soon as a resource exists, so a crash between
   * "created" and "ready" leaves the broker enough to tear it down.
   */
  checkpoint(handle: Handle): void;
  /**
   * Set when the broker creates this sandbox from a snapshot (`sandboxer restore`):
   * a verified archive on this machine. An extension with `capabilities.restore`
   * fills its workspace from it in `provision`, before it starts anything
   * (`extractArchive` in src/snapshots/archive.ts streams it over ctx.transport).
   */
  restoreFrom?: SnapshotSource;
}

/** A resource found on a backend, for stale detection. */
export interface BackendResource {
  sandboxId: string;
  kind: string;
  ref: string;
  detail?: JsonObject;
}

export interface ExecIo {
  stdin: "inherit" | "ignore";
  stdout: "inherit" | "pipe";
  stderr: "inherit" | "pipe";
}

/** A compose service name as sand-boxer accepts it (also what `exec --service` takes). */
export const SERVICE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export interface ExecOptions {
  /** The service whose container runs the command (extensions with `capabilities.execService`). */
  service?: string;
}

export interface ExecResult {
  exitCode: number;
  stdout?: string;
  stderr?: string;
  /** Captured output hit the extension's limit and was cut. */
  truncated?: boolean;
  /** Processes the kernel's OOM killer ended in the sandbox while the command ran (at its memory limit). */
  oomKilled?: number;
}

export interface Extension<I extends Record<string, unknown> = Record<string, unknown>> {
  id: string;
  kind: ExtensionKind;
  description: string;
  capabilities: Capabilities;
  /** Validates the merged inputs (profile defaults + caller's), when the profile loads and at create. */
  inputs: z.ZodType<I>;
  /**
   * Checks that need the local machine but change nothing (a repo path exists),
   * run at plan time so bad input fails before any record exists.
   */
  preflight?(inputs: I, env: Env, profile: Profile): void;
  /**
   * Problems with the profile's `settings` this extension reads (field paths from
   * `settings.`), reported when the catalog loads so a bad profile never serves a create.
   */
  settingsProblems?(settings: Record<string, unknown>): { field: string; message: string }[];
  provision(ctx: ExtensionContext, inputs: I): Promise<Handle>;
  waitReady(ctx: ExtensionContext, handle: Handle): Promise<JsonObject>;
  /** Idempotent; `handle` is null when a crash happened before provision returned. */
  teardown(ctx: ExtensionContext, handle: Handle | null): Promise<void>;
  /** Is the provisioned resource still there? Used by reconcile to keep records true. */
  alive?(ctx: ExtensionContext, handle: Handle): Promise<boolean>;
  /** The backend's own expiry follows the record's (metered SaaS timeouts); called after `extend-ttl`. */
  extendTtl?(ctx: ExtensionContext, handle: Handle, expiresAt: Date): Promise<void>;
  /**
   * With `capabilities.exec`: run argv (no shell) in the ready sandbox, in its
   * workspace, with the caller's stdio choices; captured output is capped
   * (EXEC_CAPTURE_LIMIT, src/extensions/exec-process.ts). The exit code is the command's.
   */
  exec?(ctx: ExtensionContext, handle: Handle, argv: string[], io: ExecIo, opts: ExecOptions): Promise<ExecResult>;
  list?(ctx: Omit<ExtensionContext, "sandbox" | "profile">): Promise<BackendResource[]>;
  /**
   * With `capabilities.snapshot`: write a zstd- or gzip-compressed tar of the
   * workspace's contents into `dest` (`archiveDir` in src/snapshots/archive.ts
   * does it over ctx.transport). The broker hashes, stores and records it.
   */
  snapshot?(ctx: ExtensionContext, handle: Handle, dest: Writable): Promise<void>;
}

export function defineExtension<I extends Record<string, unknown>>(ext: Extension<I>): Extension<I> {
  return ext;
}
