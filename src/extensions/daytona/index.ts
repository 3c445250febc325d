import { z } from "zod";
import { SandboxerError } from "../../errors.js";
import type { Handle } from "../../types.js";
import { type BackendResource, defineExtension, type ExtensionContext } from "../define.js";
import { envMs, requireEnv, vendorError } from "../saas/vendor.js";

/**
 * Daytona sandboxes through Daytona's REST API with the official
 * `@daytonaio/sdk`, loaded only when a Daytona sandbox is touched. Settings
 * (env): DAYTONA_API_KEY (required), DAYTONA_API_URL, DAYTONA_TARGET,
 * DAYTONA_REQUEST_TIMEOUT_MS. State is polled (no event socket), every
 * sandbox carries label `sandboxerId`, and the TTL becomes Daytona's
 * auto-stop interval with auto-delete at stop, so an abandoned sandbox
 * removes itself.
 */
type Client = InstanceType<typeof import("@daytonaio/sdk").Daytona>;
let ctor: Promise<typeof import("@daytonaio/sdk").Daytona> | undefined;

async function client(ctx: Pick<ExtensionContext, "env">): Promise<Client> {
  ctor ??= import("@daytonaio/sdk").then((m) => m.Daytona);
  const Daytona = await ctor;
  return new Daytona({
    apiKey: requireEnv(ctx.env, "daytona", "DAYTONA_API_KEY"),
    ...(ctx.env.DAYTONA_API_URL ? { apiUrl: ctx.env.DAYTONA_API_URL } : {}),
    ...(ctx.env.DAYTONA_TARGET ? { target: ctx.env.DAYTONA_TARGET } : {}),
    requestTimeoutMs: envMs(ctx.env, "DAYTONA_REQUEST_TIMEOUT_MS", 30_000),
    // Poll state over HTTP instead of holding a websocket open per CLI process.
    useDeprecatedPolling: true,
  });
}

const inputs = z.object({
  /** Daytona snapshot to start from; the profile's `settings.snapshot`, else Daytona's default. */
  snapshot: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$/).optional(),
  repo: z.string().optional(),
});

/** Whole minutes, at least 1: Daytona's intervals are minutes. */
const minutes = (seconds: number) => Math.max(1, Math.ceil(seconds / 60));

const isNotFound = (err: unknown) => (err as { statusCode?: number }).statusCode === 404 || (err as Error).name === "DaytonaNotFoundError";

async function ours(d: Client, sandboxerId?: string) {
  const out: { id: string; sandboxerId: string; state: string }[] = [];
  for await (const s of d.list({ labels: sandboxerId ? { sandboxerId } : {} })) {
    const owner = s.labels?.sandboxerId;
    if (owner) out.push({ id: s.id, sandboxerId: owner, state: String(s.state) });
  }
  return out;
}

export default defineExtension({
  id: "ext.daytona",
  kind: "metered",
  description: "Daytona cloud sandboxes (official @daytonaio/sdk); label sandboxerId on each",
  capabilities: { snapshot: false, restore: false, build: false, exec: false },
  inputs,

  async provision(ctx, input) {
    const d = await client(ctx);
    const snapshot = input.snapshot ?? (typeof ctx.profile.settings.snapshot === "string" ? ctx.profile.settings.snapshot : undefined);
    const ttl = ctx.sandbox.ttlSeconds ?? 3600;
    ctx.progress(`creating Daytona sandbox${snapshot ? ` from ${snapshot}` : ""}`);
    try {
      // Daytona's create waits (polling) until the sandbox is `started`, within our remaining budget.
      const sb = await d.create(
        { labels: { sandboxerId: ctx.sandbox.id, profile: ctx.sandbox.profile }, autoStopInterval: minutes(ttl), autoDeleteInterval: 0, ...(snapshot ? { snapshot } : {}) },
        { timeout: Math.max(1, Math.floor(envMs(ctx.env, "DAYTONA_START_TIMEOUT_MS", 120_000) / 1000)) },
      );
      const handle = { sandboxId: sb.id };
      ctx.checkpoint(handle);
      return handle;
    } catch (err) {
      throw vendorError("daytona", "create", err);
    }
  },

  async waitReady(ctx, handle) {
    const d = await client(ctx);
    try {
      const sb = await d.get(String(handle.sandboxId));
      if (sb.state !== "started") throw new SandboxerError("SBX_PROVISION_FAILED", `daytona: sandbox is ${sb.state}${sb.errorReason ? ` (${sb.errorReason})` : ""}, not started`);
      return { kind: "saas", provider: "daytona", sandboxId: sb.id, target: sb.target, toolboxProxyUrl: sb.toolboxProxyUrl, autoStopMinutes: sb.autoStopInterval ?? null };
    } catch (err) {
      throw vendorError("daytona", "get", err);
    }
  },

  async alive(ctx, handle) {
    const d = await client(ctx);
    try {
      return (await d.get(String(handle.sandboxId))).state === "started";
    } catch (err) {
      if (isNotFound(err)) return false;
      throw vendorError("daytona", "get", err);
    }
  },

  async teardown(ctx, handle: Handle | null) {
    const d = await client(ctx);
    const kill = async (id: string) => {
      try {
        await d.delete(await d.get(id));
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    };
    try {
      if (handle?.sandboxId) await kill(String(handle.sandboxId));
      // A create whose answer was lost (timeout) still carries our label: find it and delete it too.
      for (const s of await ours(d, ctx.sandbox.id)) await kill(s.id);
    } catch (err) {
      throw new SandboxerError("SBX_TEARDOWN_FAILED", vendorError("daytona", "delete", err).message, { cause: err });
    }
  },

  async extendTtl(ctx, handle, expiresAt) {
    const d = await client(ctx);
    try {
      const sb = await d.get(String(handle.sandboxId));
      await sb.setAutostopInterval(minutes((expiresAt.getTime() - ctx.clock.now().getTime()) / 1000));
    } catch (err) {
      throw vendorError("daytona", "set auto-stop", err);
    }
  },

  async list(ctx) {
    const d = await client(ctx);
    return (await ours(d)).map((s): BackendResource => ({ sandboxId: s.sandboxerId, kind: "daytona-sandbox", ref: s.id, detail: { state: s.state } }));
  },
});
