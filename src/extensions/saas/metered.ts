/**
 * `defineMeteredExtension`: what every metered vendor extension does the same
 * way, so each vendor file says only how its SDK is called. The helper loads
 * nothing until a sandbox is touched, tags every remote sandbox with
 * `sandboxerId` in the create call, turns vendor failures into SandboxerErrors
 * naming vendor and call, treats "not found" as gone, tears down by the handle
 * and then by the tag (a create whose answer was lost still carries it), lists
 * the account's tagged sandboxes for stale detection, and keeps the vendor's
 * own timeout at the record's remaining TTL.
 */
import type { Readable, Writable } from "node:stream";
import type { z } from "zod";
import { SandboxerError } from "../../errors.js";
import type { JsonObject } from "../../types.js";
import {
  type BackendResource,
  type BackendTerminal,
  defineExtension,
  type TerminalSize,
  type ExecIo,
  type ExecOptions,
  type ExecResult,
  type ExtensionContext,
  type ExtensionDefinition,
} from "../define.js";
import { attachTerminal } from "./terminal.js";
import { timedExec } from "../timed-exec.js";
import { type VendorIo, vendorFiles } from "./vendor-io.js";
import { vendorProcesses } from "./vendor-procs.js";
import { vendorError } from "./vendor.js";

/** What a vendor call needs from the context (list and teardown run without a record). */
export type VendorContext = Pick<ExtensionContext, "env" | "signal" | "clock" | "paths">;

/** One of our sandboxes at the vendor. */
export interface RemoteSandbox {
  ref: string;
  sandboxerId: string;
  state?: string;
}

/** What the create call must put on the remote sandbox. */
export interface CreateRequest {
  tags: { sandboxerId: string; profile: string };
  /** The vendor's own timeout, seconds: the record's TTL (see `timeoutSeconds`). */
  timeoutSeconds: number;
}

export interface MeteredDefinition<I extends Record<string, unknown>, H extends object, C> {
  id: string;
  description: string;
  /** The vendor as named in messages ("e2b"). */
  vendor: string;
  /** Where its sandboxes live, in words for reports ("an E2B account"). */
  account: string;
  /** `kind` of the resources `list` reports ("e2b-sandbox"). */
  resourceKind: string;
  /** GPU sandboxes (profiles ask with `settings.requires: [gpu]`). */
  gpu?: boolean;
  /**
   * A terminal through the vendor's PTY API running argv (saas/terminal.ts);
   * with it, `exec -it`, `shell` and the server's terminal WebSocket work
   * (capabilities.pty). The client stays open until the session ends.
   */
  terminal?(c: C, ctx: ExtensionContext<H>, h: H, argv: string[], size: TerminalSize, onData: (d: Uint8Array) => Promise<void>): Promise<BackendTerminal>;
  /** `exec` feeds `opts.stdin` (and the CLI's piped stdin) to the command (saas/exec-stdin.ts). */
  stdin?: boolean;
  inputs: z.ZodType<I>;
  handle: z.ZodType<H>;
  perRequest?: ExtensionDefinition<I, H>["perRequest"];
  /** A client for one operation; load the SDK here through `lazy`, never at module top. */
  connect(ctx: VendorContext): Promise<C>;
  /** Release what `connect` opened (channels, sockets). */
  disconnect?(client: C): void;
  /** The vendor says the sandbox does not exist (404, NOT_FOUND): gone, never an error in teardown or alive. */
  isNotFound(err: unknown): boolean;
  /** The vendor's id in the handle. */
  remoteId(h: H): string;
  /** Create the sandbox with `req.tags` and `req.timeoutSeconds` in the same call; the handle once it exists. */
  create(c: C, ctx: ExtensionContext<H>, input: I, req: CreateRequest): Promise<H>;
  /** Reachability once ready; throws when the vendor says it is not running. */
  ready(c: C, ctx: ExtensionContext<H>, h: H): Promise<JsonObject>;
  /** Is it running? (not found is handled: false). */
  running(c: C, ctx: VendorContext, h: H): Promise<boolean>;
  /** Delete / kill / terminate one sandbox by its vendor id (not found is handled: done). */
  remove(c: C, ctx: VendorContext, ref: string): Promise<void>;
  /** Verb of `remove` in messages ("kill", "delete", "terminate"). */
  removeVerb?: string;
  /** Our sandboxes at the vendor (tagged `sandboxerId`), of one sandbox id when given. */
  find(c: C, ctx: VendorContext, sandboxerId?: string): Promise<RemoteSandbox[]>;
  /** The vendor's timeout for a create, seconds; default the record's TTL. */
  timeoutSeconds?(ctx: ExtensionContext<H>): number;
  /** Set the vendor's timeout to `seconds` from now (after `extend-ttl`); absent when the vendor cannot. */
  setTimeout?(c: C, ctx: ExtensionContext<H>, h: H, seconds: number): Promise<void>;
  /** Replaces the `setTimeout` path when the vendor's rule is its own (Modal: never past the creation timeout). */
  extendTtl?(ctx: ExtensionContext<H>, h: H, expiresAt: Date): Promise<void>;
  /** Errors are the vendor's to map (SBX_INVALID_STATE when it no longer runs, SBX_EXEC_FAILED otherwise). */
  exec?(c: C, ctx: ExtensionContext<H>, h: H, argv: string[], io: ExecIo, opts: ExecOptions): Promise<ExecResult>;
  /**
   * Bytes to and from a path in the sandbox through the vendor's file API. With
   * `exec`, they give files in and out, detached processes and exec timeouts
   * (vendor-io.ts, vendor-procs.ts, ../timed-exec.ts); errors are the vendor's to map, as for exec.
   */
  transfer?: {
    upload(c: C, ctx: ExtensionContext<H>, h: H, path: string, src: Readable): Promise<void>;
    download(c: C, ctx: ExtensionContext<H>, h: H, path: string, out: Writable): Promise<void>;
  };
}

/** An SDK import made once, on first use. */
export function lazy<T>(load: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => {
    p ??= load();
    p.catch(() => {
      p = undefined;
    });
    return p;
  };
}

/** Seconds left until the record's expiry (at least 1), or undefined without one. */
export function remainingSeconds(ctx: Pick<ExtensionContext, "sandbox" | "clock">): number | undefined {
  if (!ctx.sandbox.expiresAt) return undefined;
  return Math.max(1, Math.ceil((Date.parse(ctx.sandbox.expiresAt) - ctx.clock.now().getTime()) / 1000));
}

export function defineMeteredExtension<I extends Record<string, unknown>, H extends object, C>(m: MeteredDefinition<I, H, C>): ExtensionDefinition<I, H> {
  const withClient = async <T>(ctx: VendorContext, fn: (c: C) => Promise<T>): Promise<T> => {
    const c = await m.connect(ctx);
    try {
      return await fn(c);
    } finally {
      m.disconnect?.(c);
    }
  };
  // Teardown runs after a timeout or Ctrl-C too: its calls must not inherit an aborted signal.
  const quiet = <T extends VendorContext>(ctx: T): T => ({ ...ctx, signal: new AbortController().signal });
  const removeQuietly = async (c: C, ctx: VendorContext, ref: string) => {
    try {
      await m.remove(c, ctx, ref);
    } catch (err) {
      if (!m.isNotFound(err)) throw err;
    }
  };
  const exec = m.exec;
  const transfer = m.transfer;
  const openTerminal = m.terminal;
  // The client lives as long as the session: released once it is closed, or if opening fails.
  const terminal =
    openTerminal &&
    (async (ctx: ExtensionContext<H>, h: H, argv: string[], size: TerminalSize, onData: (d: Uint8Array) => Promise<void>): Promise<BackendTerminal> => {
      const c = await m.connect(ctx);
      let t: BackendTerminal;
      try {
        t = await openTerminal(c, ctx, h, argv, size, onData);
      } catch (err) {
        m.disconnect?.(c);
        throw err;
      }
      // Both callers (attachTerminal, the terminal WebSocket) close every session, ended or not.
      let closing: Promise<void> | undefined;
      const close = () => {
        closing ??= t.close().finally(() => m.disconnect?.(c));
        return closing;
      };
      return { ...t, close };
    });
  const setTimeoutAt = m.setTimeout;
  const PIPE: ExecIo = { stdin: "ignore", stdout: "pipe", stderr: "pipe" };
  const run =
    exec &&
    ((ctx: ExtensionContext<H>, h: H, argv: string[], opts: ExecOptions = {}, io: ExecIo = PIPE): Promise<ExecResult> => {
      // `exec -it` from the local CLI: the vendor's terminal wired to ours.
      if (opts.tty && terminal) return attachTerminal((size, onData) => terminal(ctx, h, argv, size, onData)).then((exitCode) => ({ exitCode }));
      return withClient(ctx, (c) => exec(c, ctx, h, argv, io, opts));
    });
  const io: VendorIo<H> | undefined =
    run && transfer
      ? {
          run: async (ctx, h, argv) => {
            const r = await run(ctx, h, argv);
            return { exitCode: r.exitCode, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
          },
          upload: (ctx, h, path, src) => withClient(ctx, (c) => transfer.upload(c, ctx, h, path, src)),
          download: (ctx, h, path, out) => withClient(ctx, (c) => transfer.download(c, ctx, h, path, out)),
        }
      : undefined;
  const extendTtl =
    m.extendTtl ??
    (setTimeoutAt
      ? (ctx: ExtensionContext<H>, h: H, expiresAt: Date) =>
          withClient(ctx, async (c) => {
            try {
              await setTimeoutAt(c, ctx, h, Math.max(1, Math.ceil((expiresAt.getTime() - ctx.clock.now().getTime()) / 1000)));
            } catch (err) {
              throw vendorError(m.vendor, "set timeout", err);
            }
          })
      : undefined);

  return defineExtension<I, H>({
    id: m.id,
    kind: "metered",
    description: m.description,
    // What a vendor SDK gives: commands (when exec is written) and GPUs; no workspace to snapshot or build.
    capabilities: {
      snapshot: false,
      restore: false,
      build: false,
      exec: Boolean(exec),
      ...(m.gpu ? { gpu: true } : {}),
      ...(io ? { files: true, processes: true, execTimeout: true, execCancel: true } : {}),
      ...(exec && terminal ? { pty: true } : {}),
      ...(exec && m.stdin ? { execStdin: true } : {}),
    },
    placement: { hosts: [], shell: false, remote: m.account },
    inputs: m.inputs,
    handle: m.handle,
    ...(m.perRequest ? { perRequest: m.perRequest } : {}),
    ...(io ? { files: vendorFiles(io), processes: vendorProcesses(io) } : {}),
    ...(exec && terminal ? { terminal } : {}),

    async provision(ctx, input) {
      const timeoutSeconds = m.timeoutSeconds?.(ctx) ?? ctx.sandbox.ttlSeconds ?? 3600;
      const handle = await withClient(ctx, async (c) => {
        try {
          return await m.create(c, ctx, input, { tags: { sandboxerId: ctx.sandbox.id, profile: ctx.sandbox.profile }, timeoutSeconds });
        } catch (err) {
          throw vendorError(m.vendor, "create", err);
        }
      });
      await ctx.checkpoint(handle);
      return handle;
    },

    waitReady: (ctx, h) =>
      withClient(ctx, async (c) => {
        try {
          return await m.ready(c, ctx, h);
        } catch (err) {
          throw vendorError(m.vendor, "get", err);
        }
      }),

    alive: (ctx, h) =>
      withClient(ctx, async (c) => {
        try {
          return await m.running(c, ctx, h);
        } catch (err) {
          if (m.isNotFound(err)) return false;
          throw vendorError(m.vendor, "get", err);
        }
      }),

    async teardown(ctx, h) {
      const q = quiet(ctx);
      await withClient(q, async (c) => {
        try {
          // What the handle names first (gone already = done); then whatever else carries our id:
          // a create whose answer was lost (a timeout, a crash) left it with the tag only. A record
          // that became ready had its create answered and recorded: no search (one vendor round trip
          // less per destroy); stale detection (`inspect stale`) still finds any stray by its tag.
          const known = h ? m.remoteId(h) : null;
          if (known) await removeQuietly(c, q, known);
          if (known && ctx.sandbox.readyAt) return;
          for (const s of await m.find(c, q, ctx.sandbox.id)) if (s.ref !== known) await removeQuietly(c, q, s.ref);
        } catch (err) {
          throw new SandboxerError("SBX_TEARDOWN_FAILED", vendorError(m.vendor, m.removeVerb ?? "delete", err).message, { cause: err });
        }
      });
    },

    ...(extendTtl ? { extendTtl } : {}),
    ...(run
      ? {
          // A timeout or a caller that may leave: the command runs as a group a second exec can kill.
          exec: (ctx, h, argv, stdio, opts) =>
            (opts.timeoutMs !== undefined || opts.signal !== undefined) && io ? timedExec(run, ctx, h, argv, stdio, opts) : run(ctx, h, argv, opts, stdio),
        }
      : {}),

    list: (ctx) =>
      withClient(ctx, async (c) => {
        try {
          return (await m.find(c, ctx)).map(
            (s): BackendResource => ({ sandboxId: s.sandboxerId, kind: m.resourceKind, ref: s.ref, ...(s.state ? { detail: { state: s.state } } : {}) }),
          );
        } catch (err) {
          throw vendorError(m.vendor, "list", err);
        }
      }),
  });
}
