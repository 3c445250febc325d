import { randomUUID } from "node:crypto";
import { pipeline } from "node:stream/promises";
import { z } from "zod";
import { SandboxerError } from "../../errors.js";
import { shellJoin } from "../../transport/quote.js";
import { ExecOutput, execResult } from "../exec-process.js";
import { defineMeteredExtension, lazy, remainingSeconds, type VendorContext } from "../saas/metered.js";
import { envMs, requireEnv, vendorError } from "../saas/vendor.js";
import { daytonaTerminal } from "./pty.js";

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
 * `exec -it` and `shell` use the toolbox's PTY API (daytona/pty.ts).
 * Files travel through the toolbox's streamed upload and download
 * (`fs.uploadFileStream`, `fs.downloadFileStream`); see saas/vendor-io.ts.
 */
type Client = InstanceType<typeof import("@daytonaio/sdk").Daytona>;
const sdk = lazy(() => import("@daytonaio/sdk"));

async function client(ctx: Pick<VendorContext, "env">): Promise<Client> {
  const { Daytona } = await sdk();
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
  snapshot: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$/)
    .optional(),
  repo: z.string().optional(),
});

/** Whole minutes, at least 1: Daytona's intervals are minutes. */
const minutes = (seconds: number) => Math.max(1, Math.ceil(seconds / 60));

const isNotFound = (err: unknown) => (err as { statusCode?: number }).statusCode === 404 || (err as Error).name === "DaytonaNotFoundError";

/** A vendor failure during exec: a sandbox Daytona no longer has is a state problem, the rest map as for create. */
function execError(id: string, err: unknown): SandboxerError {
  if (err instanceof SandboxerError) return err;
  if (isNotFound(err)) {
    return new SandboxerError(
      "SBX_INVALID_STATE",
      `daytona: sandbox ${id} no longer exists at Daytona (deleted, or auto-deleted at auto-stop); \`sandboxer reconcile\` settles the record`,
      { cause: err, details: { vendor: "daytona", sandboxId: id } },
    );
  }
  const e = vendorError("daytona", "exec", err);
  return new SandboxerError("SBX_EXEC_FAILED", e.message, { cause: err, ...(e.details ? { details: e.details } : {}) });
}

/** The sandbox, when it runs (exec needs it started). */
async function started(d: Client, id: string) {
  const sb = await d.get(id);
  if (sb.state !== "started") {
    throw new SandboxerError(
      "SBX_INVALID_STATE",
      `daytona: sandbox ${id} is ${sb.state}, not started (auto-stop ends it at the TTL); exec needs a running sandbox`,
      { details: { vendor: "daytona", sandboxId: id, state: String(sb.state) } },
    );
  }
  return sb;
}

const handle = z.object({ sandboxId: z.string() });

export default defineMeteredExtension({
  id: "ext.daytona",
  description: "Daytona cloud sandboxes (official @daytonaio/sdk); label sandboxerId on each",
  vendor: "daytona",
  account: "the Daytona organisation of DAYTONA_API_KEY",
  resourceKind: "daytona-sandbox",
  inputs,
  handle,
  connect: client,
  isNotFound,
  remoteId: (h) => h.sandboxId,

  async create(d, ctx, input, req) {
    const snapshot = input.snapshot ?? (typeof ctx.profile.settings.snapshot === "string" ? ctx.profile.settings.snapshot : undefined);
    ctx.progress(`creating Daytona sandbox${snapshot ? ` from ${snapshot}` : ""}`);
    // Daytona's create waits (polling) until the sandbox is `started`, within our remaining budget;
    // the TTL is its auto-stop interval, with auto-delete at stop, so an abandoned sandbox removes itself.
    const sb = await d.create(
      { labels: req.tags, autoStopInterval: minutes(req.timeoutSeconds), autoDeleteInterval: 0, ...(snapshot ? { snapshot } : {}) },
      { timeout: Math.max(1, Math.floor(envMs(ctx.env, "DAYTONA_START_TIMEOUT_MS", 120_000) / 1000)) },
    );
    return { sandboxId: sb.id };
  },

  async ready(d, _ctx, h) {
    const sb = await d.get(h.sandboxId);
    if (sb.state !== "started")
      throw new SandboxerError("SBX_PROVISION_FAILED", `daytona: sandbox is ${sb.state}${sb.errorReason ? ` (${sb.errorReason})` : ""}, not started`);
    return {
      kind: "saas",
      provider: "daytona",
      sandboxId: sb.id,
      target: sb.target,
      toolboxProxyUrl: sb.toolboxProxyUrl,
      autoStopMinutes: sb.autoStopInterval ?? null,
    };
  },

  running: async (d, _ctx, h) => (await d.get(h.sandboxId)).state === "started",
  remove: async (d, _ctx, ref) => d.delete(await d.get(ref)),

  async find(d, _ctx, sandboxerId) {
    const out: { ref: string; sandboxerId: string; state: string }[] = [];
    for await (const s of d.list({ labels: sandboxerId ? { sandboxerId } : {} })) {
      const owner = s.labels?.sandboxerId;
      if (owner) out.push({ ref: s.id, sandboxerId: owner, state: String(s.state) });
    }
    return out;
  },

  setTimeout: async (d, _ctx, h, seconds) => {
    await (await d.get(h.sandboxId)).setAutostopInterval(minutes(seconds));
  },

  transfer: {
    async upload(d, _ctx, h, path, src) {
      try {
        await (await d.get(h.sandboxId)).fs.uploadFileStream(src, path);
      } catch (err) {
        throw execError(h.sandboxId, err);
      }
    },
    async download(d, _ctx, h, path, out) {
      try {
        await pipeline(await (await d.get(h.sandboxId)).fs.downloadFileStream(path, { timeout: 0 }), out, { end: false });
      } catch (err) {
        throw execError(h.sandboxId, err);
      }
    },
  },

  // The toolbox's PTY API: `exec -it`, `shell` and the server's terminals (daytona/pty.ts).
  async terminal(d, _ctx, h, argv, size, onData) {
    try {
      return await daytonaTerminal(await started(d, h.sandboxId), argv, size, onData);
    } catch (err) {
      throw execError(h.sandboxId, err);
    }
  },

  async exec(d, ctx, h, argv, io, opts) {
    const id = h.sandboxId;
    const session = `sandboxer-exec-${randomUUID()}`;
    let sb: Awaited<ReturnType<Client["get"]>> | undefined;
    try {
      sb = await started(d, id);
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
      const r = await sb.process.executeSessionCommand(session, { command, runAsync: false }, remainingSeconds(ctx));
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
});
