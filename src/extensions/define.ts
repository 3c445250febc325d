/**
 * The extension contract (docs/extension-sdk.md). An extension folder, or an
 * operator's package named by a registration's `module:`, default-exports
 * `defineExtension({...})`. The definition is typed end to end: `inputs` and
 * `handle` are zod schemas, and the broker parses the stored handle with the
 * extension's schema before every call (src/extensions/bind.ts), so no
 * extension casts what it gets back. What it declares is checked against what
 * it implements when it is defined (src/extensions/check.ts).
 */
import type { Writable } from "node:stream";
import type { z } from "zod";
import type { Profile } from "../catalog/schema.js";
import type { Env, Paths } from "../config.js";
import type { SnapshotSource } from "../snapshots/types.js";
import type { HostKind } from "../transport/for-host.js";
import type { Transport } from "../transport/types.js";
import type { Clock, Handle, Host, JsonObject, Sandbox } from "../types.js";
import { checkDefinition } from "./check.js";
import type { BackendTerminal, ExecIo, ExecOptions, ExecResult, FileOps, ProcessOps, SandboxCommandOptions, TerminalSize } from "./io-types.js";

export * from "./io-types.js";

export type ExtensionKind = "self-hosted" | "metered";

/** What an extension offers. Each flag is checked against the methods when it is defined. */
export interface Capabilities {
  /** `snapshot` method: archives the workspace. */
  snapshot: boolean;
  /** `provision` fills the new workspace from `ctx.restoreFrom` (the one way to restore); needs `snapshot`. */
  restore: boolean;
  /** A `build` mode in `modes` (a build-style provision, e.g. Packer): profiles may say `mode: build`. */
  build: boolean;
  /** `exec` method: argv in the ready sandbox. */
  exec: boolean;
  /** `exec --service NAME` picks the container (compose stacks); needs `exec`. Others refuse the option. */
  execService?: boolean;
  /** GPU sandboxes (profiles ask with `settings.requires: [gpu]`). */
  gpu?: boolean;
  /** Enforces the profile's `limits` (processes, memory, disk, cpu) in provision; see src/catalog/limits.ts. Self-hosted only. */
  limits?: boolean;
  /** Files in and out (`sandboxer cp`, `/files`): the `files` methods or `sandboxCommand`. */
  files?: boolean;
  /** Detached processes (`exec --detach`, `ps`, `logs`, `kill`): `sandboxCommand` or the `processes` methods. */
  processes?: boolean;
  /** `exec` honours `timeoutMs` itself (kills the command's process group); implied by `sandboxCommand`. */
  execTimeout?: boolean;
  /** `exec` honours `signal` (a caller that went away) the same way: kills the command's process group; implied by `sandboxCommand`. */
  execCancel?: boolean;
  /** `exec` feeds `opts.stdin` (the API's body) to the command itself; implied by `sandboxCommand`. */
  execStdin?: boolean;
  /** An interactive terminal (`exec -it`, `shell`): `sandboxCommand`, or an `exec` that honours `opts.tty`. */
  pty?: boolean;
}

export type { HostKind } from "../transport/for-host.js";

/**
 * Where an extension's sandboxes are placed and where its resources live, so
 * placement, host probing and stale detection ask the right extension about
 * the right place without knowing any backend by name.
 */
export interface Placement {
  /** Inventory hosts it places sandboxes on; `list(ctx, "host")` is asked on each. Metered vendors: `[]`. */
  hosts: readonly HostKind[];
  /**
   * It runs commands on those hosts through `ctx.transport` (local processes,
   * the host's SSH master), so the broker probes the host before a create.
   * Without it the extension talks to its own API (a cluster's API server) and
   * its first request answers for reachability; `ctx.transport` then refuses.
   */
  shell: boolean;
  /**
   * Resources outside the inventory (a vendor account, VMs reached by their own
   * alias), in words for reports; `list(ctx, "remote")` is asked once, from this machine.
   */
  remote?: string;
}

export interface ProgressOptions {
  percent?: number;
}

/** What the broker hands every extension call. Extensions never touch the store or events. */
export interface ExtensionContext<H = Handle> {
  sandbox: Sandbox;
  profile: Profile;
  host: Host;
  /** Commands on the placement host (extensions with `placement.shell`). */
  transport: Transport;
  paths: Paths;
  env: Env;
  clock: Clock;
  signal: AbortSignal;
  progress(message: string, opts?: ProgressOptions): void;
  /**
   * Persist a partial handle as soon as a resource exists, so a crash between
   * "created" and "ready" leaves the broker enough to tear it down. It must
   * parse with the extension's `handle` schema.
   */
  checkpoint(handle: H): Promise<void>;
  /**
   * Set when the broker creates this sandbox from a snapshot (`sandboxer restore`):
   * a verified archive on this machine. An extension with `capabilities.restore`
   * fills its workspace from it in `provision`, before it starts anything
   * (`extractArchive` in src/snapshots/archive.ts streams it over ctx.transport).
   * This is the only way to restore: there is no `restore` method.
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
  /** The record's project (null: none), for placement rules that depend on it. */
  project: string | null;
}

/** The context of `list`: no record (it may be lost) and nothing to checkpoint. */
export type ListContext = Omit<ExtensionContext, "sandbox" | "profile" | "checkpoint">;

/** Which of the places in `placement` a `list` call is about. */
export type ListWhere = "host" | "remote";

/** A resource found on a backend, for stale detection. */
export interface BackendResource {
  sandboxId: string;
  kind: string;
  ref: string;
  detail?: JsonObject;
}

/** A compose service name as sand-boxer accepts it (also what `exec --service` takes). */
export const SERVICE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** What an extension author writes; `I` is the inputs' type, `H` the handle's (both from their schemas). */
export interface ExtensionDefinition<I extends Record<string, unknown> = Record<string, unknown>, H extends object = Handle> {
  id: string;
  kind: ExtensionKind;
  description: string;
  capabilities: Capabilities;
  placement: Placement;
  /**
   * Its sandboxes run elsewhere than the record's host (a workspace on a VM,
   * an image a builder makes): they do not count against that host's
   * `maxSandboxes`, as metered sandboxes do not.
   */
  offHost?: boolean;
  /** Validates the merged inputs (profile defaults + caller's), when the profile loads and at create. */
  inputs: z.ZodType<I>;
  /**
   * The handle: what provision returns and checkpoints (JSON), parsed back from
   * the record with this schema before every later call. Partial checkpoints
   * must parse too (make late fields optional). No transforms: what is stored is what is read.
   */
  handle: z.ZodType<H>;
  /** The values a profile's `mode` (or a `mode` input) may take; `build` here is `capabilities.build`. */
  modes?: readonly string[];
  /**
   * Checks that need the local machine but change nothing (a repo path exists),
   * run at plan time so bad input fails before any record exists.
   */
  preflight?(inputs: I, env: Env, plan: PreflightContext): void | Promise<void>;
  /**
   * Problems with the profile's `settings` this extension reads (field paths from
   * `settings.`), reported when the catalog loads so a bad profile never serves a create.
   */
  settingsProblems?(settings: Record<string, unknown>): { field: string; message: string }[];
  provision(ctx: ExtensionContext<H>, inputs: I): Promise<H>;
  /**
   * Inputs that do not shape the sandbox, so a warm pool member made without
   * them can take them at claim (docs/pools.md): `apply` puts them in (copies
   * `repo` into the workspace); an input listed without `apply` is ignored by
   * this extension anyway. Every other input keys the pool.
   */
  perRequest?: {
    inputs: readonly (keyof I & string)[];
    apply?(ctx: ExtensionContext<H>, handle: H, inputs: I): Promise<void>;
  };
  waitReady(ctx: ExtensionContext<H>, handle: H): Promise<JsonObject>;
  /** Idempotent; `handle` is null when a crash happened before provision returned (find what carries the id). */
  teardown(ctx: ExtensionContext<H>, handle: H | null): Promise<void>;
  /** Is the provisioned resource still there? Used by reconcile to keep records true. */
  alive?(ctx: ExtensionContext<H>, handle: H): Promise<boolean>;
  /** The backend's own expiry follows the record's (metered SaaS timeouts); called after `extend-ttl`. */
  extendTtl?(ctx: ExtensionContext<H>, handle: H, expiresAt: Date): Promise<void>;
  /**
   * With `capabilities.exec`: run argv (no shell) in the ready sandbox, in its
   * workspace, with the caller's stdio choices; captured output is capped
   * (EXEC_CAPTURE_LIMIT, src/extensions/exec-process.ts). The exit code is the command's.
   */
  exec?(ctx: ExtensionContext<H>, handle: H, argv: string[], io: ExecIo, opts: ExecOptions): Promise<ExecResult>;
  /**
   * Resources that carry a sandbox id, for stale detection: on `ctx.host` (one
   * of `placement.hosts`) when `where` is "host", elsewhere (`placement.remote`) when "remote".
   */
  list?(ctx: ListContext, where: ListWhere): Promise<BackendResource[]>;
  /** Facts for `inspect host` on a host without a shell (`placement.shell: false`), e.g. a cluster's. */
  hostFacts?(ctx: ListContext): Promise<JsonObject>;
  /**
   * The local argv that runs `argv` (no shell) inside the sandbox, in its
   * working directory (nsenter, `ssh host podman exec`, `ssh vm`). With it the
   * broker gives the sandbox files, detached processes, exec timeouts, stdin
   * and terminals through fixed scripts run there (src/sandbox-shell/).
   */
  sandboxCommand?(ctx: ExtensionContext<H>, handle: H, argv: string[], opts: SandboxCommandOptions): Promise<string[]>;
  /**
   * With `capabilities.pty` and no `sandboxCommand`: a terminal through the
   * backend's own API running argv, of `size`, its output to `onData` (awaited:
   * backpressure). The server's terminal WebSocket uses it; `exec` with `tty`
   * is the local CLI's way to the same terminal.
   */
  terminal?(ctx: ExtensionContext<H>, handle: H, argv: string[], size: TerminalSize, onData: (chunk: Uint8Array) => Promise<void>): Promise<BackendTerminal>;
  /** Where those scripts may keep small state inside the sandbox (pid files); default /tmp/.sandboxer. */
  scratchDir?(ctx: ExtensionContext<H>, handle: H): string;
  /** Confine file paths to this directory inside the sandbox (shared VMs); resolved there, links included. */
  fileRoot?(ctx: ExtensionContext<H>, handle: H): string | null;
  /** Files through the backend's own API (vendors); preferred over `sandboxCommand` when both exist. */
  files?: FileOps<H>;
  /** Detached processes kept inside the sandbox (vendors); only used without `sandboxCommand`. */
  processes?: ProcessOps<H>;
  /**
   * With `capabilities.snapshot`: write a zstd- or gzip-compressed tar of the
   * workspace's contents into `dest` (`archiveDir` in src/snapshots/archive.ts
   * does it over ctx.transport). The broker hashes, stores and records it.
   */
  snapshot?(ctx: ExtensionContext<H>, handle: H, dest: Writable): Promise<void>;
}

/**
 * An extension as the broker holds it (src/extensions/bind.ts): handles are the
 * records' JSON, parsed with the extension's schema inside each call, and
 * `list` without `where` asks every place that fits `ctx.host`.
 */
export type Extension = Omit<ExtensionDefinition<Record<string, unknown>, Handle>, "list"> & {
  list?(ctx: ListContext, where?: ListWhere): Promise<BackendResource[]>;
};

/**
 * Define an extension: its declarations are checked against its methods now
 * (SBX_EXTENSION_INVALID naming the extension and the capability), and again
 * when the broker loads it.
 */
export function defineExtension<I extends Record<string, unknown>, H extends object>(ext: ExtensionDefinition<I, H>): ExtensionDefinition<I, H> {
  checkDefinition(ext);
  return ext;
}
