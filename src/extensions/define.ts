import type { Readable, Writable } from "node:stream";
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
  /** Files in and out (`sandboxer cp`, `/files`): `sandboxCommand` or the `files` methods. */
  files?: boolean;
  /** Detached processes (`exec --detach`, `ps`, `logs`, `kill`): needs `sandboxCommand`. */
  processes?: boolean;
  /** An interactive terminal (`exec -it`, `shell`): `sandboxCommand` with `tty`. */
  pty?: boolean;
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
  checkpoint(handle: Handle): Promise<void>;
  /**
   * Set when the broker creates this sandbox from a snapshot (`sandboxer restore`):
   * a verified archive on this machine. An extension with `capabilities.restore`
   * fills its workspace from it in `provision`, before it starts anything
   * (`extractArchive` in src/snapshots/archive.ts streams it over ctx.transport).
   */
  restoreFrom?: SnapshotSource;
}

/** What a plan-time check knows about the create besides its inputs. */
export interface PreflightContext {
  profile: Profile;
  /** The placement host as planned (a fallback may still move an SSH create to the next host). */
  host: Host;
  /** The record's mode: the `mode` input, else the profile's. */
  mode: string | null;
  /** A restore: the workspace comes from a snapshot, so inputs that only seed it are not needed. */
  restoring: boolean;
  paths: Paths;
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
  /** Kill the command's whole process group (inside the sandbox) after this long; the result says `timedOut`. */
  timeoutMs?: number;
  /** Bytes for the command's stdin (the API's exec body); io.stdin is then ignored. */
  stdin?: Readable | Buffer;
  /** Every chunk of output as it arrives (streaming exec), whatever io says. */
  onOutput?: (stream: "stdout" | "stderr", chunk: Buffer) => void;
  /** A pseudo-terminal for an interactive session (`exec -it`): io must inherit all three streams. */
  tty?: boolean;
}

export interface ExecResult {
  exitCode: number;
  stdout?: string;
  stderr?: string;
  /** Captured output hit the extension's limit and was cut. */
  truncated?: boolean;
  /** Processes the kernel's OOM killer ended in the sandbox while the command ran (at its memory limit). */
  oomKilled?: number;
  /** `timeoutMs` passed and the command's process group was killed (exitCode is then 124). */
  timedOut?: boolean;
}

/** Options of `sandboxCommand`: how the local argv it returns will be run. */
export interface SandboxCommandOptions {
  service?: string | undefined;
  /** The caller feeds stdin (else it is /dev/null on the far side). */
  stdin: boolean;
  /** Allocate a terminal (`ssh -t`, `podman exec -t`); stdio is then the caller's terminal. */
  tty?: boolean;
}

/** One entry of a directory listing (`sandboxer cp`, `GET /files?list=1`). */
export interface FileEntry {
  name: string;
  path: string;
  type: "file" | "dir" | "symlink" | "other";
  size: number;
  /** Permission bits in octal, "0644". */
  mode: string;
  /** ISO 8601. */
  mtime: string;
  /** A symlink's target, as stored (never followed). */
  target?: string;
}

export interface FileListing {
  entries: FileEntry[];
  truncated: boolean;
  total: number;
}

/**
 * Files for backends without a local command into the sandbox (vendor SDKs).
 * Paths are inside the sandbox: absolute, or relative to its working directory.
 * Writes land whole or not at all: a failed or oversized upload leaves nothing.
 */
export interface FileOps {
  /** Extract a tar stream into the directory `dest` (created if missing). */
  putArchive(ctx: ExtensionContext, handle: Handle, dest: string, tar: Readable): Promise<void>;
  /** A tar of `path` (a file or a directory) with one top entry named after it, written to `out` (the caller ends `out`). */
  getArchive(ctx: ExtensionContext, handle: Handle, path: string, out: Writable): Promise<void>;
  writeFile(ctx: ExtensionContext, handle: Handle, path: string, data: Readable, mode: number | undefined): Promise<void>;
  /** The bytes (at most maxBytes) written to `out`, which the caller ends; the size; null when there is no regular file at `path`. */
  readFile(ctx: ExtensionContext, handle: Handle, path: string, out: Writable, maxBytes: number): Promise<{ size: number } | null>;
  /** A directory's children (or the file itself), at most `limit`; null when nothing is at `path`. */
  list(ctx: ExtensionContext, handle: Handle, path: string, limit: number): Promise<FileListing | null>;
  /** The entry at `path` itself (not followed), or null. */
  stat(ctx: ExtensionContext, handle: Handle, path: string): Promise<FileEntry | null>;
  remove(ctx: ExtensionContext, handle: Handle, path: string, recursive: boolean): Promise<void>;
}

export interface Extension<I extends Record<string, unknown> = Record<string, unknown>> {
  id: string;
  kind: ExtensionKind;
  description: string;
  capabilities: Capabilities;
  /**
   * Its sandboxes run elsewhere than the record's host (a workspace on a VM,
   * an image a builder makes): they do not count against that host's
   * `maxSandboxes`, as metered sandboxes do not.
   */
  offHost?: boolean;
  /** Validates the merged inputs (profile defaults + caller's), when the profile loads and at create. */
  inputs: z.ZodType<I>;
  /**
   * Checks that need the local machine but change nothing (a repo path exists,
   * a Packer template declares a variable), run at plan time so bad input fails
   * before any record exists. What only the backend can tell is left to provision.
   */
  preflight?(inputs: I, env: Env, plan: PreflightContext): void | Promise<void>;
  /**
   * Problems with the profile's `settings` this extension reads (field paths from
   * `settings.`), reported when the catalog loads so a bad profile never serves a create.
   */
  settingsProblems?(settings: Record<string, unknown>): { field: string; message: string }[];
  provision(ctx: ExtensionContext, inputs: I): Promise<Handle>;
  /**
   * Inputs that do not shape the sandbox, so a warm pool member made without
   * them can take them at claim (docs/pools.md): `apply` puts them in (copies
   * `repo` into the workspace); an input listed without `apply` is ignored by
   * this extension anyway. Every other input keys the pool.
   */
  perRequest?: {
    inputs: readonly (keyof I & string)[];
    apply?(ctx: ExtensionContext, handle: Handle, inputs: I): Promise<void>;
  };
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
   * The local argv that runs `argv` (no shell) inside the sandbox, in its
   * working directory (nsenter, `ssh host podman exec`, `ssh vm`). With it the
   * broker gives the sandbox files, detached processes, exec timeouts, stdin
   * and terminals through fixed scripts run there (src/sandbox-shell/).
   */
  sandboxCommand?(ctx: ExtensionContext, handle: Handle, argv: string[], opts: SandboxCommandOptions): Promise<string[]>;
  /** Where those scripts may keep small state inside the sandbox (pid files); default /tmp/.sandboxer. */
  scratchDir?(ctx: ExtensionContext, handle: Handle): string;
  /** Confine file paths to this directory inside the sandbox (shared VMs); resolved there, links included. */
  fileRoot?(ctx: ExtensionContext, handle: Handle): string | null;
  /** Files through the backend's own API (vendors); preferred over `sandboxCommand` when both exist. */
  files?: FileOps;
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
