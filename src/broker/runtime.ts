import type { Catalog } from "../catalog/load.js";
import type { Profile } from "../catalog/schema.js";
import type { Config, Env, Paths } from "../config.js";
import type { Extension, ExtensionContext } from "../extensions/define.js";
import { BUILTIN_EXTENSIONS, loadExtension, type ModuleRef } from "../extensions/index.js";
import type { IdGen } from "../ids.js";
import { crashPoint } from "../faults.js";
import type { NewEvent, Repos, SandboxUpdate, Store, TransitionGuard } from "../store/types.js";
import type { Transport } from "../transport/types.js";
import type { Clock, Handle, Host, Sandbox, SandboxRow, SandboxState } from "../types.js";
import { settleOnClose } from "./credits.js";
import type { Owner } from "./owner.js";

export interface ProgressNote {
  sandboxId: string;
  message: string;
  percent?: number | undefined;
}

/** Everything the broker's operations share; built once by createBroker. */
export interface Runtime {
  store: Store;
  clock: Clock;
  ids: IdGen;
  paths: Paths;
  env: Env;
  config(): Config;
  catalog(): Promise<Catalog>;
  transportFor(host: Host): Transport;
  onProgress?: ((note: ProgressNote) => void) | undefined;
  /** Who owns in-flight records written by this process (replica + pid + start time; ./owner.ts). */
  owner: Owner;
  /** Events were stored: deliver them to the State Hub soon (src/events/live.ts); never waits, never throws. */
  eventsWritten?: (() => void) | undefined;
}

export function nowIso(rt: Pick<Runtime, "clock">): string {
  return rt.clock.now().toISOString();
}

export function eventFor(
  rt: Pick<Runtime, "clock" | "ids">,
  type: string,
  sb: Pick<Sandbox, "id" | "actor" | "project">,
  data: Record<string, unknown> = {},
): NewEvent {
  return { id: rt.ids("evt"), type, sandboxId: sb.id, at: nowIso(rt), actor: sb.actor, project: sb.project, data };
}

/**
 * One state change and its event in one transaction, as a compare-and-set on
 * the current state. Returns undefined when another process moved it first.
 * Closing a record (`destroyed`, `failed`) settles its credits in the same
 * transaction. `db` may be a transaction the caller already holds.
 */
export function transition(
  rt: Runtime,
  row: SandboxRow,
  from: readonly SandboxState[],
  to: SandboxState,
  patch: SandboxUpdate = {},
  data: Record<string, unknown> = {},
  db: Repos = rt.store,
  guard?: TransitionGuard,
): Promise<SandboxRow | undefined> {
  const at = nowIso(rt);
  const event = eventFor(rt, `sandbox.${to}`, row, { from: row.state, ...data });
  const written = <T>(r: T): T => {
    // Inside a caller's transaction the event is not committed yet: its commit (or the command's end) delivers it.
    if (db === rt.store) rt.eventsWritten?.();
    return r;
  };
  if (to !== "destroyed" && to !== "failed") return db.sandboxes.transition(row.id, from, to, { ...patch, updatedAt: at }, event, guard).then(written);
  return db
    .tx(async (t) => {
      const done = await t.sandboxes.transition(row.id, from, to, { ...patch, updatedAt: at }, event, guard);
      if (!done) return undefined;
      await settleOnClose(rt, t, done);
      return t.sandboxes.get(done.id);
    })
    .then(written);
}

/** The extension `id`: built in, or the module its registration in the catalog names. */
export async function extensionOf(rt: Pick<Runtime, "catalog">, id: string): Promise<Extension> {
  return extensionIn((await rt.catalog()).registrations, id);
}

/** The extension `id` as `registrations` (a catalog's) make it: built in, or the module its registration names. */
export function extensionIn(registrations: ReadonlyMap<string, ModuleRef>, id: string): Promise<Extension> {
  return BUILTIN_EXTENSIONS.includes(id) ? loadExtension(id) : loadExtension(id, registrations.get(id));
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
      // Not awaited: notes are written in order (the store runs them in turn) and never hold up the extension.
      rt.store.events.append(eventFor(rt, "sandbox.progress", row, data)).then(
        () => rt.eventsWritten?.(),
        () => {},
      );
      rt.onProgress?.({ sandboxId: row.id, message, percent: opts?.percent });
    },
    async checkpoint(handle: Handle) {
      await rt.store.sandboxes.update(row.id, { handle, updatedAt: nowIso(rt) });
      checkpoints++;
      crashPoint(`checkpoint-${checkpoints}`);
    },
  };
}
