import { z } from "zod";
import { defineMeteredExtension, lazy, remainingSeconds, type VendorContext } from "../saas/metered.js";
import { envMs, requireEnv, vendorError } from "../saas/vendor.js";
import { type E2bSdk, execInSandbox } from "./exec.js";
import { e2bTerminal } from "./pty.js";
import { download, upload } from "./transfer.js";

/**
 * E2B sandboxes through E2B's control-plane API with the official `e2b` SDK,
 * loaded only when an E2B sandbox is created or touched. Settings (env):
 * E2B_API_KEY (required), E2B_API_URL (default: E2B's), E2B_REQUEST_TIMEOUT_MS,
 * E2B_SANDBOX_URL (the sandbox proxy in front of envd, which runs `exec`;
 * default: the SDK's, from the sandbox's domain).
 * Every sandbox carries metadata `sandboxerId`, so a create whose answer was
 * lost (timeout) is still found and killed by teardown.
 */
const sdk = lazy((): Promise<E2bSdk> => import("e2b").then((m) => ({ Sandbox: m.Sandbox, CommandExitError: m.CommandExitError })));

const inputs = z.object({
  /** E2B template id or alias; the profile's `settings.template`, else "base". */
  template: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/)
    .optional(),
  /** Accepted so E2B can stand in for ext.local in burst routes; not uploaded. */
  repo: z.string().optional(),
});

const handle = z.object({ sandboxId: z.string(), template: z.string(), domain: z.string().optional() });

/** The SDK's connection options: credentials from the environment on every call, never from the record. */
function conn(ctx: VendorContext) {
  return {
    apiKey: requireEnv(ctx.env, "e2b", "E2B_API_KEY"),
    ...(ctx.env.E2B_API_URL ? { apiUrl: ctx.env.E2B_API_URL } : {}),
    ...(ctx.env.E2B_SANDBOX_URL ? { sandboxUrl: ctx.env.E2B_SANDBOX_URL } : {}),
    requestTimeoutMs: envMs(ctx.env, "E2B_REQUEST_TIMEOUT_MS", 30_000),
    signal: ctx.signal,
  };
}

/** E2B's connect extends the vendor timeout to at least this (300 s when omitted): keep it at the record's expiry. */
function atExpiry<T extends object>(conn: T, ctx: Parameters<typeof remainingSeconds>[0]): T & { timeoutMs?: number } {
  const left = remainingSeconds(ctx);
  return { ...conn, ...(left ? { timeoutMs: left * 1000 } : {}) };
}

export default defineMeteredExtension({
  id: "ext.e2b",
  description: "E2B cloud sandboxes (official e2b SDK); metadata sandboxerId on each",
  vendor: "e2b",
  account: "the E2B account of E2B_API_KEY",
  resourceKind: "e2b-sandbox",
  inputs,
  handle,
  // `repo` is never uploaded: a warm member serves any value of it.
  perRequest: { inputs: ["repo"] },
  removeVerb: "kill",

  // The SDK's calls take their connection with each call: the client is the SDK and the options.
  connect: async (ctx) => ({ sdk: await sdk(), conn: conn(ctx) }),
  isNotFound: (err) => (err as Error).name === "SandboxNotFoundError" || /not found/i.test((err as Error).message),
  remoteId: (h) => h.sandboxId,

  async create({ sdk: { Sandbox }, conn }, ctx, input, req) {
    const template = input.template ?? (typeof ctx.profile.settings.template === "string" ? ctx.profile.settings.template : "base");
    ctx.progress(`creating E2B sandbox from template ${template}`);
    // E2B's own timeout follows the record's TTL: the vendor stops billing even if we never come back.
    const sb = await Sandbox.create(template, { ...conn, timeoutMs: req.timeoutSeconds * 1000, metadata: req.tags });
    return { sandboxId: sb.sandboxId, template, ...(sb.sandboxDomain ? { domain: sb.sandboxDomain } : {}) };
  },

  // E2B answers create (201) once the sandbox runs: no second round trip needed to call it ready.
  ready: async (_c, _ctx, h) => ({ kind: "saas", provider: "e2b", sandboxId: h.sandboxId, template: h.template, ...(h.domain ? { domain: h.domain } : {}) }),
  running: async ({ sdk: { Sandbox }, conn }, _ctx, h) => (await Sandbox.getInfo(h.sandboxId, conn)).state === "running",
  remove: async ({ sdk: { Sandbox }, conn }, _ctx, ref) => {
    await Sandbox.kill(ref, conn);
  },

  async find({ sdk: { Sandbox }, conn }, _ctx, sandboxerId) {
    const paginator = Sandbox.list({ ...conn, query: { metadata: sandboxerId ? { sandboxerId } : {} } });
    const out: { ref: string; sandboxerId: string; state: string }[] = [];
    while (paginator.hasNext) {
      for (const s of await paginator.nextItems()) {
        const owner = s.metadata?.sandboxerId;
        if (owner) out.push({ ref: s.sandboxId, sandboxerId: owner, state: String(s.state) });
      }
    }
    return out;
  },

  setTimeout: async ({ sdk: { Sandbox }, conn }, _ctx, h, seconds) => {
    await Sandbox.setTimeout(h.sandboxId, seconds * 1000, conn);
  },

  // envd's PTY API: `exec -it`, `shell` and the server's terminals (e2b/pty.ts).
  terminal: ({ sdk: e2b, conn }, ctx, h, argv, size, onData) =>
    e2bTerminal(e2b, h.sandboxId, argv, atExpiry(conn, ctx), size, onData).catch((err: unknown) => {
      throw vendorError("e2b", "pty", err);
    }),
  // envd's SendInput / CloseStdin: stdin for exec (e2b/exec.ts).
  stdin: true,

  async exec({ sdk: e2b, conn }, ctx, h, argv, io, opts) {
    return execInSandbox(e2b, ctx.sandbox.id, h.sandboxId, argv, io, atExpiry(conn, ctx), opts);
  },

  transfer: {
    upload: ({ sdk: e2b, conn }, ctx, h, path, src) => upload(e2b, h.sandboxId, atExpiry(conn, ctx), path, src),
    download: ({ sdk: e2b, conn }, ctx, h, path, out) => download(e2b, h.sandboxId, atExpiry(conn, ctx), path, out),
  },
});
