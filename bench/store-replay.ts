/**
 * The store's own cost of a create (bench/store.bench.ts): record the store
 * calls one real create makes, then replay them back to back on a store with
 * fresh ids. Inside a real create each round trip also waits for a CPU shared
 * with the sandbox being started (2 cores here); the replay shows what the
 * database itself costs, call for call, on SQLite and on PostgreSQL.
 */
import type { Repos, Store } from "../src/store/types.js";

const REPOS: (keyof Repos)[] = ["sandboxes", "events", "snapshots", "credits", "tokens", "idempotency", "leases", "pools"];

interface Call {
  repo: keyof Repos;
  method: string;
  args: unknown[];
}
/** One step: calls issued while others were in flight run together (Promise.all); a transaction's calls run in it, in order. */
type Step = { calls: Call[] } | { tx: Call[] };

/** Progress notes are written in the background and nobody waits for them (src/broker/runtime.ts): left out, as in the timed figure. */
const background = (method: string, args: unknown[]) => method === "append" && (args[0] as { type?: string } | undefined)?.type === "sandbox.progress";

export function recording(store: Store): { store: Store; steps: Step[]; on: (yes: boolean) => void } {
  const steps: Step[] = [];
  let on = false;
  let active = 0;
  const counted = (p: unknown): unknown => {
    if (!(p instanceof Promise)) return p;
    active++;
    return p.finally(() => active--);
  };
  // `sink` says where a call is recorded (null: not recording); calls outside a transaction are also counted in flight.
  const repoProxy = <R extends object>(name: keyof Repos, repo: R, sink: () => Call[] | null, count: boolean): R =>
    new Proxy(repo, {
      get(t, k) {
        const v = (t as Record<string | symbol, unknown>)[k];
        if (typeof v !== "function") return v;
        return (...args: unknown[]) => {
          const into = background(String(k), args) ? null : sink();
          into?.push({ repo: name, method: String(k), args: structuredClone(args) });
          const out = (v as (...a: unknown[]) => unknown).apply(t, args);
          return count ? counted(out) : out;
        };
      },
    });
  // Outside a transaction: a call that starts while none is in flight opens a new step.
  const outside = () => {
    if (!on) return null;
    const last = steps.at(-1);
    if (active === 0 || !last || !("calls" in last)) steps.push({ calls: [] });
    return (steps.at(-1) as { calls: Call[] }).calls;
  };
  const proxy = new Proxy(store, {
    get(t, k) {
      if (REPOS.includes(k as keyof Repos)) return repoProxy(k as keyof Repos, t[k as keyof Repos] as object, outside, true);
      if (k === "tx")
        return <T>(fn: (tx: Repos) => Promise<T>) => {
          const calls: Call[] = [];
          if (on) steps.push({ tx: calls });
          return counted(
            t.tx((raw) => {
              const wrapped = Object.fromEntries(REPOS.map((name) => [name, repoProxy(name, raw[name] as object, () => (on ? calls : null), false)]));
              const tx = { ...raw, ...wrapped } as typeof raw;
              tx.tx = (inner) => inner(tx);
              return fn(tx);
            }),
          ) as Promise<T>;
        };
      const v = (t as unknown as Record<string | symbol, unknown>)[k];
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
  return { store: proxy, steps, on: (yes) => (on = yes) };
}

let replays = 0;

/** The recorded ids (sandboxes, events) replaced by fresh ones, so every replay writes new rows. */
function renamed(value: unknown, fresh: Map<string, string>, n: number): unknown {
  if (typeof value === "string" && /^(sbx|evt)-[A-Za-z0-9]+$/.test(value)) {
    if (!fresh.has(value)) fresh.set(value, `${value.slice(0, 4)}r${n}x${fresh.size}${value.slice(4, 12)}`);
    return fresh.get(value);
  }
  if (Array.isArray(value)) return value.map((v) => renamed(v, fresh, n));
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renamed(v, fresh, n)]));
  return value;
}

const invoke = (db: Repos, c: Call, fresh: Map<string, string>, n: number) => {
  const repo = db[c.repo] as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  return repo[c.method]?.(...(renamed(c.args, fresh, n) as unknown[])) as Promise<unknown>;
};

/** Replay `steps` `times` times on `store`; milliseconds per create. Throws when a replayed state change does not take (the replay did not do the create's work). */
export async function replay(store: Store, steps: readonly Step[], times: number, onStep?: (i: number, ms: number) => void): Promise<number> {
  let total = 0;
  for (let i = 0; i < times; i++) {
    const n = replays++;
    const fresh = new Map<string, string>();
    const t0 = performance.now();
    const results: unknown[] = [];
    for (const [i, step] of steps.entries()) {
      const s0 = performance.now();
      if ("tx" in step) {
        await store.tx(async (t) => {
          for (const c of step.tx) results.push(await invoke(t, c, fresh, n));
        });
      } else results.push(...(await Promise.all(step.calls.map((c) => invoke(store, c, fresh, n)))));
      onStep?.(i, performance.now() - s0);
    }
    total += performance.now() - t0;
    const moves = steps.flatMap((s) => ("tx" in s ? s.tx : s.calls)).map((c, i) => [c, results[i]] as const);
    if (moves.some(([c, r]) => c.method === "transition" && r === undefined)) throw new Error("a replayed transition did not take");
  }
  return total / times;
}
