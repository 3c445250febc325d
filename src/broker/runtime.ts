import type { Catalog } from "../catalog/load.js";
import type { Profile } from "../catalog/schema.js";
import type { Config, Env, Paths } from "../config.js";
import { settleOnClose } from "../credits/index.js";
import type { ExtensionContext } from "../extensions/define.js";
import type { IdGen } from "../ids.js";
import { crashPoint } from "../faults.js";
import { SELF } from "../proc.js";
import type { SqliteStore } from "../store/sqlite.js";
import type { Transport } from "../transport/types.js";
import type { Clock, Handle, Host, Sandbox, SandboxRow, SandboxState } from "../types.js";

export interface ProgressNote {
  sandboxId: string;
  message: string;
  percent?: number | undefined;
}

/** Everything the broker's operations share; built once by createBroker. */
export interface Runtime {
  store: SqliteStore;
  clock: Clock;
  ids: IdGen;
  paths: Paths;
  env: Env;
  config(): Config;
  catalog(): Promise<Catalog>;
  transportFor(host: Host): Transport;
  onProgress?: ((note: ProgressNote) => void) | undefined;
  /** Who owns in-flight records written by this process (pid + start time). */
  owner: { pid: number; start: string | null };
}

export const defaultOwner = (): { pid: number; start: string | null } => ({ pid: SELF.pid, start: SELF.start });

export function nowIso(rt: Runtime): string {
  return rt.clock.now().toISOString();
}

export function eventFor(rt: Runtime, type: string, sb: Pick<Sandbox, "id" | "actor" | "project">, data: Record<string, unknown> = {}) {
  return { id: rt.ids("evt"), type, sandboxId: sb.id, at: nowIso(rt), actor: sb.actor, project: sb.project, data };
}

/**
 * One state change and its event in one transaction, as a compare-and-set on
 * the current state. Returns undefined when another process moved it first.
 */
export function transition(
  rt: Runtime,
  row: SandboxRow,
  from: readonly SandboxState[],
  to: SandboxState,
  patch: Partial<SandboxRow> = {},
  data: Record<string, unknown> = {},
): SandboxRow | undefined {
  const at = nowIso(rt);
  const change = () => rt.store.transition(row.id, from, { ...patch, state: to, updatedAt: at }, eventFor(rt, `sandbox.${to}`, row, { from: row.state, ...data }));
  if (to !== "destroyed" && to !== "failed") return change();
  // Closing a record settles its credits in the same transaction (src/credits/).
  return rt.store.write(() => {
    const done = change();
    if (!done) return undefined;
    settleOnClose(rt, done);
    return rt.store.getSandbox(done.id);
  });
}

export function extensionContext(rt: Runtime, row: SandboxRow, profile: Profile, host: Host, signal: AbortSignal): ExtensionContext {
  let checkpoints = 0;
  return {
    sandbox: row,
    profile,
    host,
    transport: rt.transportFor(host),
    paths: rt.paths,
    env: rt.env,
    clock: rt.clock,
    signal,
    progress(message, opts) {
      const data: Record<string, unknown> = { message };
      if (opts?.percent !== undefined) data.percent = opts.percent;
      rt.store.appendEvent(eventFor(rt, "sandbox.progress", row, data));
      rt.onProgress?.({ sandboxId: row.id, message, percent: opts?.percent });
    },
    checkpoint(handle: Handle) {
      rt.store.patchRow(row.id, { handle, updatedAt: nowIso(rt) });
      checkpoints++;
      crashPoint(`checkpoint-${checkpoints}`);
    },
  };
}
