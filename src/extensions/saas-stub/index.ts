import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { SandboxerError } from "../../errors.js";
import type { Handle } from "../../types.js";
import { type BackendResource, defineExtension, type ExtensionContext } from "../define.js";

/**
 * A metered backend with no server: its "remote" sandboxes are JSON files
 * under $SANDBOXER_HOME/saas-stub/, so create in one process and destroy in
 * another behave as with a real vendor. For routing, payments and demos.
 * Faults for tests and demos (environment):
 *   SANDBOXER_SAAS_STUB_FAIL=provision|ready  fail that step (retryable)
 *   SANDBOXER_SAAS_STUB_DELAY_MS=N            time to ready
 */
const inputs = z.object({
  /** Accepted so the stub can stand in for ext.local in burst routes; recorded, not copied. */
  repo: z.string().optional(),
});

interface Remote {
  remoteId: string;
  metadata: { sandboxerId: string };
  state: "starting" | "running";
  createdAt: string;
}

const dir = (ctx: Pick<ExtensionContext, "paths">) => join(ctx.paths.home, "saas-stub");
const fileOf = (ctx: Pick<ExtensionContext, "paths">, remoteId: string) => join(dir(ctx), `${remoteId}.json`);

function readAll(ctx: Pick<ExtensionContext, "paths">): Remote[] {
  if (!existsSync(dir(ctx))) return [];
  const out: Remote[] = [];
  for (const f of readdirSync(dir(ctx))) {
    if (!f.endsWith(".json")) continue;
    try {
      out.push(JSON.parse(readFileSync(join(dir(ctx), f), "utf8")) as Remote);
    } catch {
      // A half-written file from a crash: not a sandbox.
    }
  }
  return out;
}

function save(ctx: Pick<ExtensionContext, "paths">, r: Remote): void {
  mkdirSync(dir(ctx), { recursive: true, mode: 0o700 });
  const tmp = `${fileOf(ctx, r.remoteId)}.tmp`;
  writeFileSync(tmp, JSON.stringify(r));
  renameSync(tmp, fileOf(ctx, r.remoteId));
}

function fault(ctx: ExtensionContext, step: "provision" | "ready"): void {
  if (ctx.env.SANDBOXER_SAAS_STUB_FAIL === step) {
    throw new SandboxerError("SBX_PROVISION_FAILED", `saas-stub: injected ${step} failure (SANDBOXER_SAAS_STUB_FAIL=${step})`);
  }
}

export default defineExtension({
  id: "ext.saas-stub",
  kind: "metered",
  description: "Metered stand-in with a price, no network: for routing, payments and demos",
  capabilities: { snapshot: false, restore: false, build: false, exec: false },
  inputs,

  async provision(ctx) {
    const remote: Remote = {
      remoteId: `stub-${randomBytes(6).toString("hex")}`,
      metadata: { sandboxerId: ctx.sandbox.id },
      state: "starting",
      createdAt: ctx.clock.now().toISOString(),
    };
    save(ctx, remote);
    await ctx.checkpoint({ remoteId: remote.remoteId });
    fault(ctx, "provision");
    return { remoteId: remote.remoteId };
  },

  async waitReady(ctx, handle) {
    const remoteId = String(handle.remoteId);
    const delay = Number(ctx.env.SANDBOXER_SAAS_STUB_DELAY_MS ?? 0);
    if (delay > 0) await new Promise((r) => setTimeout(r, Math.min(delay, 60_000)));
    fault(ctx, "ready");
    const file = fileOf(ctx, remoteId);
    if (!existsSync(file)) throw new SandboxerError("SBX_PROVISION_FAILED", `saas-stub: sandbox ${remoteId} vanished while starting`);
    const remote = JSON.parse(readFileSync(file, "utf8")) as Remote;
    save(ctx, { ...remote, state: "running" });
    return { kind: "saas", provider: "saas-stub", remoteId, url: `stub://${remoteId}` };
  },

  async alive(ctx, handle) {
    return existsSync(fileOf(ctx, String(handle.remoteId)));
  },

  async teardown(ctx, handle: Handle | null) {
    // Without a handle (crash before checkpoint), find it by metadata like a real vendor.
    const ids = handle?.remoteId ? [String(handle.remoteId)] : readAll(ctx).filter((r) => r.metadata.sandboxerId === ctx.sandbox.id).map((r) => r.remoteId);
    for (const id of ids) rmSync(fileOf(ctx, id), { force: true });
  },

  async list(ctx) {
    return readAll(ctx).map((r): BackendResource => ({ sandboxId: r.metadata.sandboxerId, kind: "saas-sandbox", ref: r.remoteId, detail: { state: r.state } }));
  },
});
