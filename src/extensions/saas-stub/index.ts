import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { SandboxerError } from "../../errors.js";
import type { ExtensionContext } from "../define.js";
import { defineMeteredExtension } from "../saas/metered.js";

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

type Where = { paths: ExtensionContext["paths"] };
const dir = (ctx: Where) => join(ctx.paths.home, "saas-stub");
const fileOf = (ctx: Where, remoteId: string) => join(dir(ctx), `${remoteId}.json`);

function readAll(ctx: Where): Remote[] {
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

function save(ctx: Where, r: Remote): void {
  mkdirSync(dir(ctx), { recursive: true, mode: 0o700 });
  const tmp = `${fileOf(ctx, r.remoteId)}.tmp`;
  writeFileSync(tmp, JSON.stringify(r));
  renameSync(tmp, fileOf(ctx, r.remoteId));
}

function fault(ctx: Pick<ExtensionContext, "env">, step: "provision" | "ready"): void {
  if (ctx.env.SANDBOXER_SAAS_STUB_FAIL === step) {
    throw new SandboxerError("SBX_PROVISION_FAILED", `saas-stub: injected ${step} failure (SANDBOXER_SAAS_STUB_FAIL=${step})`);
  }
}

const handle = z.object({ remoteId: z.string() });

export default defineMeteredExtension({
  id: "ext.saas-stub",
  description: "Metered stand-in with a price, no network: for routing, payments and demos",
  vendor: "saas-stub",
  account: "files under $SANDBOXER_HOME/saas-stub",
  resourceKind: "saas-sandbox",
  inputs,
  handle,
  // The "vendor" is a directory of this home; nothing to load.
  connect: async () => undefined,
  isNotFound: (err) => (err as NodeJS.ErrnoException).code === "ENOENT",
  remoteId: (h) => h.remoteId,

  async create(_c, ctx) {
    const remote: Remote = {
      remoteId: `stub-${randomBytes(6).toString("hex")}`,
      metadata: { sandboxerId: ctx.sandbox.id },
      state: "starting",
      createdAt: ctx.clock.now().toISOString(),
    };
    save(ctx, remote);
    // After the remote exists, as a vendor's lost answer would: teardown finds it by its tag.
    fault(ctx, "provision");
    return { remoteId: remote.remoteId };
  },

  async ready(_c, ctx, { remoteId }) {
    const delay = Number(ctx.env.SANDBOXER_SAAS_STUB_DELAY_MS ?? 0);
    if (delay > 0) await new Promise((r) => setTimeout(r, Math.min(delay, 60_000)));
    fault(ctx, "ready");
    const file = fileOf(ctx, remoteId);
    if (!existsSync(file)) throw new SandboxerError("SBX_PROVISION_FAILED", `saas-stub: sandbox ${remoteId} vanished while starting`);
    const remote = JSON.parse(readFileSync(file, "utf8")) as Remote;
    save(ctx, { ...remote, state: "running" });
    return { kind: "saas", provider: "saas-stub", remoteId, url: `stub://${remoteId}` };
  },

  running: async (_c, ctx, h) => existsSync(fileOf(ctx, h.remoteId)),
  remove: async (_c, ctx, ref) => rmSync(fileOf(ctx, ref), { force: true }),
  find: async (_c, ctx, sandboxerId) =>
    readAll(ctx)
      .filter((r) => sandboxerId === undefined || r.metadata.sandboxerId === sandboxerId)
      .map((r) => ({ ref: r.remoteId, sandboxerId: r.metadata.sandboxerId, state: r.state })),
});
