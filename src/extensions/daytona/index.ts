import { randomUUID } from "node:crypto";
import { z } from "zod";
import { SandboxerError } from "../../errors.js";
import { shellJoin } from "../../transport/quote.js";
import type { Handle } from "../../types.js";
import { type BackendResource, defineExtension, type ExtensionContext } from "../define.js";
import { ExecOutput, execResult } from "../exec-process.js";
import { envMs, requireEnv, vendorError } from "../saas/vendor.js";

/**
 * Daytona sandboxes through Daytona's REST API with the official
 * `@daytonaio/sdk`, loaded only when a Daytona sandbox is touched. Settings
 * (env): DAYTONA_API_KEY (required), DAYTONA_API_URL, DAYTONA_TARGET,
 * DAYTONA_REQUEST_TIMEOUT_MS. State is polled (no event socket), every
 * sandbox carries label `sandboxerId`, and the TTL becomes Daytona's
 * auto-stop interval with auto-delete at stop, so an abandoned sandbox
 * removes itself.
 *
 * `exec` runs one command in a fresh toolbox session (create, execute, delete):
 * Daytona's session execute answers stdout and stderr apart with the exit code,
 * once the command ended (output is not streamed; stdin is not forwarded).
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

/** A vendor failure during exec: a sandbox Daytona no longer has is a state problem, the rest map as for create. */
function execError(id: string, err: unknown): SandboxerError {
  if (err instanceof SandboxerError) return err;
  if (isNotFound(err)) {
    return new SandboxerError("SBX_INVALID_STATE", `daytona: sandbox ${id} no longer exists at Daytona (deleted, or auto-deleted at auto-stop); \`sandboxer reconcile\` settles the record`, { cause: err, details: { vendor: "daytona", sandboxId: id } });
  }
  const e = vendorError("daytona", "exec", err);
  return new SandboxerError("SBX_EXEC_FAILED", e.message, { cause: err, ...(e.details ? { details: e.details } : {}) });
}

export default defineExtension({
  id: "ext.daytona",
  kind: "metered",
  description: "Daytona cloud sandboxes (official @daytonaio/sdk); label sandboxerId on each",
  capabilities: { snapshot: false, restore: false, build: false, exec: true },
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
      await ctx.checkpoint(handle);
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

  async exec(ctx, handle, argv, io, opts) {
    const d = await client(ctx);
    const id = String(handle.sandboxId);
    const session = `sandboxer-exec-${randomUUID()}`;
    let sb: Awaited<ReturnType<Client["get"]>> | undefined;
    try {
      sb = await d.get(id);
      if (sb.state !== "started") {
        throw new SandboxerError("SBX_INVALID_STATE", `daytona: sandbox ${id} is ${sb.state}, not started (auto-stop ends it at the TTL); exec needs a running sandbox`, { details: { vendor: "daytona", sandboxId: id, state: String(sb.state) } });
      }
      await sb.process.createSession(session);
    } catch (err) {
      throw execError(id, err);
    }
    try {
      // Daytona takes a session command only as shell text, run by the sandbox's shell in its
      // working directory. So argv is quoted once with shellJoin, and `exec` in a subshell keeps
      // argv semantics: no builtin, alias or keyword is interpreted, and `exit` cannot end the session.
      const command = `(exec ${shellJoin(argv)})`;
      // The HTTP wait lasts as long as the sandbox may (the SDK's default is its request timeout).
      const left = ctx.sandbox.expiresAt ? Math.ceil((Date.parse(ctx.sandbox.expiresAt) - ctx.clock.now().getTime()) / 1000) : 0;
      const r = await sb.process.executeSessionCommand(session, { command, runAsync: false }, left > 0 ? left : undefined);
      if (typeof r.exitCode !== "number") throw new SandboxerError("SBX_EXEC_FAILED", `daytona exec: no exit code in the answer for ${id}`);
      const out = new ExecOutput(io.stdout, process.stdout, opts.onOutput && ((c) => opts.onOutput?.("stdout", c)));
      const err = new ExecOutput(io.stderr, process.stderr, opts.onOutput && ((c) => opts.onOutput?.("stderr", c)));
      await out.push(r.stdout ?? "");
      await err.push(r.stderr ?? "");
      return execResult(r.exitCode, out, err);
    } catch (err) {
      throw execError(id, err);
    } finally {
      await sb.process.deleteSession(session).catch(() => {});
    }
  },

  async list(ctx) {
    const d = await client(ctx);
    return (await ours(d)).map((s): BackendResource => ({ sandboxId: s.sandboxerId, kind: "daytona-sandbox", ref: s.id, detail: { state: s.state } }));
  },
});
