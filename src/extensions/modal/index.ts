import { z } from "zod";
import type { Env } from "../../config.js";
import { parseDuration } from "../../duration.js";
import { SandboxerError } from "../../errors.js";
import type { ExtensionContext } from "../define.js";
import { ExecOutput, execResult } from "../exec-process.js";
import { feedStdin, stdinOf } from "../saas/exec-stdin.js";
import { defineMeteredExtension, lazy } from "../saas/metered.js";
import { envMs, requireEnv, vendorError } from "../saas/vendor.js";
import { modalTerminal } from "./pty.js";
import { download, upload } from "./transfer.js";

/**
 * Modal sandboxes through Modal's gRPC control plane with the official
 * `modal` JS SDK (0.x), loaded only when a Modal sandbox is touched.
 * Settings (env): MODAL_TOKEN_ID, MODAL_TOKEN_SECRET (required),
 * MODAL_SERVER_URL, MODAL_ENVIRONMENT, MODAL_REQUEST_TIMEOUT_MS, MODAL_SANDBOX_V2
 * (default false: the v1 sandbox API). The sandbox
 * is created with tag `sandboxerId` in the same call, so a create whose
 * answer was lost is still found (list by tag) and terminated.
 *
 * `exec` is the SDK's `sandbox.exec(argv)` (Modal's task command router):
 * argv as argv, no shell; stdout and stderr stream apart as they come, in the
 * image's working directory; stdin (the API's body, the CLI's piped stdin)
 * is written to the command's, then closed (saas/exec-stdin.ts).
 * `exec -it` and `shell` run it with the SDK's `pty` (modal/pty.ts): the
 * initial window size is passed, later resizes are not (the SDK cannot).
 */
const load = lazy(() => import("modal"));
type Client = InstanceType<Awaited<ReturnType<typeof load>>["ModalClient"]>;

/**
 * The SDK reads its endpoint and image-builder version from process.env when a
 * client is constructed (no constructor option): set them from the broker's
 * environment for exactly that moment.
 */
async function client(env: Env): Promise<Client> {
  const { ModalClient } = await load();
  const tokenId = requireEnv(env, "modal", "MODAL_TOKEN_ID");
  const tokenSecret = requireEnv(env, "modal", "MODAL_TOKEN_SECRET");
  const keys = ["MODAL_SERVER_URL", "MODAL_IMAGE_BUILDER_VERSION", "MODAL_SANDBOX_V2"] as const;
  const saved = keys.map((k) => process.env[k]);
  try {
    if (env.MODAL_SERVER_URL) process.env.MODAL_SERVER_URL = env.MODAL_SERVER_URL;
    process.env.MODAL_IMAGE_BUILDER_VERSION = env.MODAL_IMAGE_BUILDER_VERSION || "2025.06";
    // The v1 sandbox API: stable, the one GPU sandboxes use anyway, and one id shape for create/list/terminate.
    process.env.MODAL_SANDBOX_V2 = env.MODAL_SANDBOX_V2 || "false";
    // No throttled retries: a 429 (RESOURCE_EXHAUSTED) should reach the route, which can fail over.
    return new ModalClient({
      tokenId,
      tokenSecret,
      ...(env.MODAL_ENVIRONMENT ? { environment: env.MODAL_ENVIRONMENT } : {}),
      maxThrottleWaitSecs: 0,
      logLevel: "error",
    });
  } finally {
    keys.forEach((k, i) => {
      if (saved[i] === undefined) delete process.env[k];
      else process.env[k] = saved[i];
    });
  }
}

/** The SDK gives control-plane calls no deadline of their own: ours stops the wait (the call is abandoned). */
function deadline<T>(env: Env, p: Promise<T>): Promise<T> {
  const ms = envMs(env, "MODAL_REQUEST_TIMEOUT_MS", 60_000);
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${ms} ms`), { name: "TimeoutError" })), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

const inputs = z.object({
  /** Container image from a registry; the profile's `settings.image`, else python:3.12-slim. */
  image: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_.:/@-]{0,199}$/)
    .optional(),
  /** GPU request, e.g. T4, A10G, A100:2; the profile's `settings.gpu`. */
  gpu: z
    .string()
    .regex(/^[A-Za-z0-9-]{1,20}(:\d{1,2})?$/)
    .optional(),
  repo: z.string().optional(),
});

const APP = "sandboxer";
const setting = (ctx: Pick<ExtensionContext, "profile">, key: string) =>
  typeof ctx.profile.settings[key] === "string" ? (ctx.profile.settings[key] as string) : undefined;

const isNotFound = (err: unknown) =>
  (err as { code?: unknown }).code === 5 || (err as Error).name === "NotFoundError" || /not found/i.test((err as Error).message);

/** A vendor failure during exec: a sandbox Modal no longer runs is a state problem, the rest map as for create. */
function execError(id: string, err: unknown): SandboxerError {
  if (err instanceof SandboxerError) return err;
  // ConflictError: the SDK found the sandbox finished (terminated, or its Modal timeout passed).
  if (isNotFound(err) || (err as Error).name === "ConflictError") {
    return new SandboxerError(
      "SBX_INVALID_STATE",
      `modal: sandbox ${id} is no longer running at Modal (terminated or timed out); \`sandboxer reconcile\` settles the record`,
      { cause: err, details: { vendor: "modal", sandboxId: id } },
    );
  }
  const e = vendorError("modal", "exec", err);
  return new SandboxerError("SBX_EXEC_FAILED", e.message, { cause: err, ...(e.details ? { details: e.details } : {}) });
}

const handle = z.object({ sandboxId: z.string(), image: z.string(), vendorExpiresAt: z.string(), gpu: z.string().optional() });

export default defineMeteredExtension({
  id: "ext.modal",
  description: "Modal sandboxes over gRPC (official modal 0.x SDK), GPUs available; tag sandboxerId on each",
  vendor: "modal",
  account: "the Modal workspace of MODAL_TOKEN_ID",
  resourceKind: "modal-sandbox",
  gpu: true,
  inputs,
  handle,
  connect: (ctx) => client(ctx.env),
  disconnect: (m) => m.close(),
  isNotFound,
  remoteId: (h) => h.sandboxId,
  removeVerb: "terminate",
  // Modal cannot extend a running sandbox's timeout, so it is set to the profile's ttl.max:
  // `extend-ttl` up to that maximum then never outlives the vendor, and the reaper still ends
  // the sandbox at the record's expiry.
  timeoutSeconds: (ctx) => Math.min(parseDuration(ctx.profile.ttl.max, "profile ttl.max"), 24 * 3600),

  async create(m, ctx, input, req) {
    const image = input.image ?? setting(ctx, "image") ?? "python:3.12-slim";
    const gpu = input.gpu ?? setting(ctx, "gpu");
    ctx.progress(`creating Modal sandbox from ${image}${gpu ? ` with GPU ${gpu}` : ""}`);
    const app = await deadline(ctx.env, m.apps.fromName(APP, { createIfMissing: true }));
    const sb = await deadline(
      ctx.env,
      m.sandboxes.create(app, m.images.fromRegistry(image), { timeoutMs: req.timeoutSeconds * 1000, tags: req.tags, ...(gpu ? { gpu } : {}) }),
    );
    const vendorExpiresAt = new Date(ctx.clock.now().getTime() + req.timeoutSeconds * 1000).toISOString();
    return { sandboxId: sb.sandboxId, image, vendorExpiresAt, ...(gpu ? { gpu } : {}) };
  },

  // sandboxes.create returns once Modal scheduled the sandbox (it has a task): it runs.
  ready: async (_m, _ctx, h) => ({ kind: "saas", provider: "modal", sandboxId: h.sandboxId, image: h.image, ...(h.gpu ? { gpu: h.gpu } : {}) }),

  async extendTtl(_ctx, h, expiresAt) {
    if (expiresAt.getTime() > Date.parse(h.vendorExpiresAt)) {
      throw new SandboxerError("SBX_UNSUPPORTED", `modal: a running sandbox cannot outlive the timeout it was created with (${h.vendorExpiresAt})`);
    }
  },

  running: async (m, ctx, h) => (await deadline(ctx.env, (await m.sandboxes.fromId(h.sandboxId)).poll())) === null,
  remove: async (m, ctx, ref) => deadline(ctx.env, (await m.sandboxes.fromId(ref)).terminate()),

  async find(m, ctx, sandboxerId) {
    const out: { ref: string; sandboxerId: string }[] = [];
    for await (const sb of m.sandboxes.list(sandboxerId ? { tags: { sandboxerId } } : {})) {
      const owner = sandboxerId ?? (await deadline(ctx.env, sb.getTags())).sandboxerId;
      if (owner) out.push({ ref: sb.sandboxId, sandboxerId: owner });
    }
    return out;
  },

  transfer: {
    async upload(m, _ctx, h, path, src) {
      const sb = await m.sandboxes.fromId(h.sandboxId).catch((err: unknown) => {
        throw execError(h.sandboxId, err);
      });
      try {
        await upload(sb, path, src);
      } catch (err) {
        throw execError(h.sandboxId, err);
      } finally {
        sb.detach();
      }
    },
    async download(m, _ctx, h, path, out) {
      const sb = await m.sandboxes.fromId(h.sandboxId).catch((err: unknown) => {
        throw execError(h.sandboxId, err);
      });
      try {
        await download(sb, path, out);
      } catch (err) {
        throw execError(h.sandboxId, err);
      } finally {
        sb.detach();
      }
    },
  },

  // The SDK's `exec` with `pty`: `exec -it`, `shell` and the server's terminals (modal/pty.ts).
  async terminal(m, ctx, h, argv, size, onData) {
    try {
      return await modalTerminal(await m.sandboxes.fromId(h.sandboxId), argv, size, onData, (p) => deadline(ctx.env, p));
    } catch (err) {
      throw execError(h.sandboxId, err);
    }
  },
  // The exec's stdin stream (TaskExecStdinWrite).
  stdin: true,

  async exec(m, ctx, h, argv, io, opts) {
    const id = h.sandboxId;
    let sb: Awaited<ReturnType<Client["sandboxes"]["fromId"]>> | undefined;
    try {
      sb = await m.sandboxes.fromId(id);
      // Only the start has a deadline: the command itself may run as long as the sandbox does.
      const proc = await deadline(ctx.env, sb.exec(argv, { mode: "binary", stdout: "pipe", stderr: "pipe" }));
      // Stdin when given (saas/exec-stdin.ts), then EOF; with none, EOF at once, so a command
      // that reads it ends instead of waiting for input that never comes.
      const input = stdinOf(io, opts);
      if (!input) await deadline(ctx.env, proc.stdin.close());
      const feeding = input
        ? feedStdin(
            input,
            (d) => proc.stdin.writeBytes(d),
            () => proc.stdin.close(),
          )
        : undefined;
      const out = new ExecOutput(io.stdout, process.stdout, opts.onOutput && ((c) => opts.onOutput?.("stdout", c)));
      const err = new ExecOutput(io.stderr, process.stderr, opts.onOutput && ((c) => opts.onOutput?.("stderr", c)));
      // Both streams are read to the end, so the command never blocks on a full pipe.
      const drain = async (from: AsyncIterable<Uint8Array>, to: ExecOutput) => {
        for await (const chunk of from) await to.push(chunk);
      };
      try {
        const [, , exitCode] = await Promise.all([drain(proc.stdout, out), drain(proc.stderr, err), proc.wait()]);
        return execResult(exitCode, out, err);
      } finally {
        feeding?.stop();
      }
    } catch (err) {
      throw execError(id, err);
    } finally {
      sb?.detach();
    }
  },
});
