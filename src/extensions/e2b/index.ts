import { z } from "zod";
import { SandboxerError } from "../../errors.js";
import type { Handle } from "../../types.js";
import { type BackendResource, defineExtension, type ExtensionContext } from "../define.js";
import { envMs, requireEnv, vendorError } from "../saas/vendor.js";
import { type E2bSdk, execInSandbox } from "./exec.js";

/**
 * E2B sandboxes through E2B's control-plane API with the official `e2b` SDK,
 * loaded only when an E2B sandbox is created or touched. Settings (env):
 * E2B_API_KEY (required), E2B_API_URL (default: E2B's), E2B_REQUEST_TIMEOUT_MS,
 * E2B_SANDBOX_URL (the sandbox proxy in front of envd, which runs `exec`;
 * default: the SDK's, from the sandbox's domain).
 * Every sandbox carries metadata `sandboxerId`, so a create whose answer was
 * lost (timeout) is still found and killed by teardown.
 */
let sdk: Promise<E2bSdk> | undefined;
const load = (): Promise<E2bSdk> => {
  sdk ??= import("e2b").then((m) => ({ Sandbox: m.Sandbox, CommandExitError: m.CommandExitError }));
  return sdk;
};

const inputs = z.object({
  /** E2B template id or alias; the profile's `settings.template`, else "base". */
  template: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/).optional(),
  /** Accepted so E2B can stand in for ext.local in burst routes; not uploaded. */
  repo: z.string().optional(),
});

type Ctx = Pick<ExtensionContext, "env" | "signal">;

function conn(ctx: Ctx) {
  return {
    apiKey: requireEnv(ctx.env, "e2b", "E2B_API_KEY"),
    ...(ctx.env.E2B_API_URL ? { apiUrl: ctx.env.E2B_API_URL } : {}),
    ...(ctx.env.E2B_SANDBOX_URL ? { sandboxUrl: ctx.env.E2B_SANDBOX_URL } : {}),
    requestTimeoutMs: envMs(ctx.env, "E2B_REQUEST_TIMEOUT_MS", 30_000),
    signal: ctx.signal,
  };
}

/** Every E2B sandbox that sand-boxer made (metadata sandboxerId), optionally of one sandbox id. */
async function listOurs(ctx: Ctx, sandboxerId?: string) {
  const { Sandbox } = await load();
  const paginator = Sandbox.list({ ...conn(ctx), query: { metadata: sandboxerId ? { sandboxerId } : {} } });
  const out: { sandboxId: string; sandboxerId: string; state: string }[] = [];
  while (paginator.hasNext) {
    for (const s of await paginator.nextItems()) {
      const owner = s.metadata?.sandboxerId;
      if (owner) out.push({ sandboxId: s.sandboxId, sandboxerId: owner, state: String(s.state) });
    }
  }
  return out;
}

export default defineExtension({
  id: "ext.e2b",
  kind: "metered",
  description: "E2B cloud sandboxes (official e2b SDK); metadata sandboxerId on each",
  capabilities: { snapshot: false, restore: false, build: false, exec: true },
  inputs,

  // `repo` is never uploaded: a warm member serves any value of it.
  perRequest: { inputs: ["repo"] },

  async provision(ctx, input) {
    const { Sandbox } = await load();
    const template = input.template ?? (typeof ctx.profile.settings.template === "string" ? ctx.profile.settings.template : "base");
    ctx.progress(`creating E2B sandbox from template ${template}`);
    try {
      const sb = await Sandbox.create(template, {
        ...conn(ctx),
        // E2B's own timeout follows the record's TTL: the vendor stops billing even if we never come back.
        timeoutMs: (ctx.sandbox.ttlSeconds ?? 3600) * 1000,
        metadata: { sandboxerId: ctx.sandbox.id, profile: ctx.sandbox.profile },
      });
      const handle = { sandboxId: sb.sandboxId, template, ...(sb.sandboxDomain ? { domain: sb.sandboxDomain } : {}) };
      await ctx.checkpoint(handle);
      return handle;
    } catch (err) {
      throw vendorError("e2b", "create", err);
    }
  },

  async waitReady(_ctx, handle) {
    // E2B answers create (201) once the sandbox runs: no second round trip needed to call it ready.
    return { kind: "saas", provider: "e2b", sandboxId: String(handle.sandboxId), template: String(handle.template), ...(handle.domain ? { domain: String(handle.domain) } : {}) };
  },

  async alive(ctx, handle) {
    const { Sandbox } = await load();
    try {
      return (await Sandbox.getInfo(String(handle.sandboxId), conn(ctx))).state === "running";
    } catch (err) {
      if ((err as Error).name === "SandboxNotFoundError" || /not found/i.test((err as Error).message)) return false;
      throw vendorError("e2b", "get", err);
    }
  },

  async teardown(ctx, handle: Handle | null) {
    const { Sandbox } = await load();
    const quiet = { ...ctx, signal: new AbortController().signal };
    try {
      // Kill what the handle names (404 = already gone). Without a handle the create's answer was
      // lost (timeout, crash): whatever carries our id in its metadata is ours to kill.
      if (handle?.sandboxId) await Sandbox.kill(String(handle.sandboxId), conn(quiet));
      else for (const s of await listOurs(quiet, ctx.sandbox.id)) await Sandbox.kill(s.sandboxId, conn(quiet));
    } catch (err) {
      throw new SandboxerError("SBX_TEARDOWN_FAILED", vendorError("e2b", "kill", err).message, { cause: err });
    }
  },

  async extendTtl(ctx, handle, expiresAt) {
    const { Sandbox } = await load();
    const ms = Math.max(1000, expiresAt.getTime() - ctx.clock.now().getTime());
    try {
      await Sandbox.setTimeout(String(handle.sandboxId), ms, conn(ctx));
    } catch (err) {
      throw vendorError("e2b", "set timeout", err);
    }
  },

  async exec(ctx, handle, argv, io, opts) {
    // E2B's connect extends the vendor timeout to at least this (300 s when omitted): keep it at the record's expiry.
    const left = ctx.sandbox.expiresAt ? Date.parse(ctx.sandbox.expiresAt) - ctx.clock.now().getTime() : Number.NaN;
    return execInSandbox(await load(), ctx.sandbox.id, handle, argv, io, { ...conn(ctx), ...(left > 0 ? { timeoutMs: Math.max(1000, left) } : {}) }, opts.onOutput);
  },

  async list(ctx) {
    return (await listOurs(ctx)).map((s): BackendResource => ({ sandboxId: s.sandboxerId, kind: "e2b-sandbox", ref: s.sandboxId, detail: { state: s.state } }));
  },
});
