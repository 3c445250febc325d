/**
 * Refill: keep each pool at its size. One pass destroys members that idled
 * past maxIdle, belong to an older profile version or exceed the size, and
 * starts refill creates for the deficit (at most `perPool` in flight per
 * pool, default 1). A refill create is an ordinary create whose record is a
 * hidden member from its first row on (`pool` set, stage `warming`), its
 * metered hold on the pool account; a crash leaves an in-flight record that
 * reconcile tears down like any other (crash points `refill-requested`,
 * `refill-provisioning`, `refill-before-ready`). The reaper runs passes under
 * its lease, so two processes never overfill (src/reaper.ts).
 */
import { POOL_ACCOUNT } from "../credits/index.js";
import { toSandboxerError } from "../errors.js";
import type { SandboxRow } from "../types.js";
import { applyCreate } from "./create.js";
import { ownerAlive } from "./owner.js";
import { destroyMember } from "./pools-claim.js";
import { decideRefill, type PoolDef } from "./pools-plan.js";
import { loadDefs, poolsToDrain } from "./pools.js";
import { nowIso, type Runtime } from "./runtime.js";

export interface RefillReport {
  pools: { key: string; destroyed: { id: string; why: string }[]; created: string[]; errors: string[] }[];
  /** Some pool is still below its size: the keeper runs the next pass at once. */
  short: boolean;
}

export interface RefillOptions {
  /** Refill creates in flight per pool (default 1). */
  perPool?: number | undefined;
  /** Before each destroy or create (the reaper renews its lease here; throwing stops the pass). */
  beforeEach?: (() => Promise<void> | void) | undefined;
}

/** One refill create: the member turns `warm` in the transaction that makes it ready, and the pool's lag is counted there. */
async function refillOne(rt: Runtime, def: PoolDef): Promise<string> {
  const sb = await applyCreate(
    rt,
    { profile: def.profile, inputs: def.inputs, actor: "adm", account: POOL_ACCOUNT },
    {
      pool: def,
      onReady: async (row, t) => {
        await t.sandboxes.update(row.id, { poolStage: "warm" });
        const warm = (await t.pools.members(def.key)).filter((m) => m.poolStage === "warm" && m.state === "ready").length;
        await t.pools.refilled(def.key, nowIso(rt), warm >= def.size);
      },
    },
  );
  return sb.id;
}

export async function refillPools(rt: Runtime, opts: RefillOptions = {}): Promise<RefillReport> {
  const catalog = await rt.catalog();
  const defs = await loadDefs(rt);
  const members = await rt.store.pools.members();
  const keys = [...new Set([...defs.map((d) => d.key), ...members.map((m) => m.pool as string)])].sort();
  const now = rt.clock.now();
  const report: RefillReport = { pools: [], short: false };
  // A warming member's refill runs while its owner lives (another replica's: while its heartbeat is fresh).
  const alive = (r: SandboxRow) => ownerAlive(rt.owner, r);
  // Pools refill side by side; within a pool at most perPool creates run at once.
  await Promise.all(
    keys.map(async (key) => {
      const def = defs.find((d) => d.key === key);
      const mine = members.filter((m) => m.pool === key);
      const version = def ? catalog.profiles.get(def.profile)?.version : undefined;
      const d = decideRefill(def, mine, version, now, opts.perPool ?? 1, alive);
      const entry: RefillReport["pools"][number] = { key, destroyed: [], created: [], errors: [] };
      report.pools.push(entry);
      for (const x of d.destroy) {
        try {
          await opts.beforeEach?.();
          const row = mine.find((m) => m.id === x.id) as SandboxRow;
          if (await destroyMember(rt, row, x.why)) entry.destroyed.push(x);
        } catch (err) {
          entry.errors.push(`${x.id}: ${toSandboxerError(err).message}`);
        }
      }
      if (!def || d.create === 0) return;
      await Promise.all(
        Array.from({ length: d.create }, async () => {
          try {
            await opts.beforeEach?.();
            entry.created.push(await refillOne(rt, def));
          } catch (err) {
            entry.errors.push(toSandboxerError(err).message);
          }
        }),
      );
      // Still short after these creates: the keeper runs the next pass at once (after an error it waits its interval).
      if (d.short > 0 && entry.errors.length === 0) report.short = true;
    }),
  );
  report.pools.sort((a, b) => (a.key < b.key ? -1 : 1));
  return report;
}

export interface DrainReport {
  pools: string[];
  destroyed: string[];
  errors: { id: string; message: string }[];
}

/** `pools drain PROFILE`: size 0 until set again, and every warm member destroyed now. */
export async function drainPools(rt: Runtime, profile: string, inputs?: Record<string, string>): Promise<DrainReport> {
  const defs = await poolsToDrain(rt, profile, inputs);
  const at = nowIso(rt);
  const report: DrainReport = { pools: defs.map((d) => d.key), destroyed: [], errors: [] };
  for (const d of defs) await rt.store.pools.put({ key: d.key, profile: d.profile, inputs: d.inputs, size: 0, maxIdleSeconds: null }, at);
  const members = (await rt.store.pools.members()).filter((m) => report.pools.includes(m.pool as string) && m.poolStage === "warm" && m.state === "ready");
  for (const m of members) {
    try {
      if (await destroyMember(rt, m, "the pool is drained")) report.destroyed.push(m.id);
    } catch (err) {
      report.errors.push({ id: m.id, message: toSandboxerError(err).message });
    }
  }
  return report;
}
