import type { Account, Broker } from "../../src/broker.js";
import type { Env } from "../../src/config.js";
import { randomIds } from "../../src/ids.js";
import { canTransition } from "../../src/lifecycle.js";
import { resolvePaths } from "../../src/paths.js";
import { openStore as storeFor } from "../../src/store/open.js";
import type { SandboxUpdate, Store } from "../../src/store/types.js";
import { SANDBOX_STATES, type SandboxRow, type SandboxState } from "../../src/types.js";
import { runtimeOf } from "../../src/broker/internal.js";

/** A store of the test's own on a home's database, SQLite or SANDBOXER_DATABASE_URL's (tests never reach into a broker's). */
export function openStore(env: Env): Store {
  return storeFor(resolvePaths(env), env);
}

/** The shortest path of allowed transitions from one state to another. */
function pathTo(from: SandboxState, to: SandboxState): SandboxState[] {
  const prev = new Map<SandboxState, SandboxState>();
  const queue: SandboxState[] = [from];
  while (queue.length) {
    const cur = queue.shift() as SandboxState;
    if (cur === to) break;
    for (const next of SANDBOX_STATES) {
      if (next === from || prev.has(next) || !canTransition(cur, next)) continue;
      prev.set(next, cur);
      queue.push(next);
    }
  }
  if (from !== to && !prev.has(to)) throw new Error(`the lifecycle has no path from ${from} to ${to}`);
  const path: SandboxState[] = [];
  for (let s = to; s !== from; s = prev.get(s) as SandboxState) path.unshift(s);
  return path;
}

/**
 * Move a record to `to` as the lifecycle allows (each step a transition with
 * its event), e.g. to simulate a teardown that failed or a record closed
 * behind the resources' back. `patch` applies on the last step.
 */
export async function walkTo(env: Env, id: string, to: SandboxState, patch: SandboxUpdate = {}): Promise<void> {
  const store = openStore(env);
  try {
    const row = await store.sandboxes.get(id);
    if (!row) throw new Error(`no sandbox ${id}`);
    const steps = pathTo(row.state, to);
    let state = row.state;
    for (const [i, next] of steps.entries()) {
      const event = {
        id: randomIds("evt"),
        type: `sandbox.${next}`,
        sandboxId: id,
        at: new Date().toISOString(),
        actor: row.actor,
        project: row.project,
        data: { from: state, test: true },
      };
      await store.sandboxes.transition(id, [state], next, i === steps.length - 1 ? patch : {}, event);
      state = next;
    }
  } finally {
    await store.close();
  }
}

/** One credit account as the broker reports it. */
export async function accountOf(broker: Broker, account: string): Promise<Account> {
  const [a] = await broker.credits({ account });
  if (!a) throw new Error(`no account ${account}`);
  return a;
}

/** A record with its private columns (handle, owner), read through a local broker's own store. */
export async function rowOf(broker: Broker, id: string): Promise<SandboxRow | undefined> {
  return runtimeOf(broker).store.sandboxes.get(id);
}
