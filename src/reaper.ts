import { hostname } from "node:os";
import type { Broker, ExpireReport, ReconcileReport, RefillReport, RetryReport } from "./broker.js";
import { toSandboxerError } from "./errors.js";
import { base32 } from "./ids.js";
import type { Clock } from "./types.js";
import { nextWakeMs } from "./ttl/policy.js";

export const REAPER_LEASE = "reaper";
/** Floor between passes, so a sandbox that stays expired (teardown keeps failing) cannot spin the loop. */
const MIN_SLEEP_MS = 200;

/** Options of `startReaper` (used by `sandboxer reaper` and `sandboxer serve`). */
export interface ReaperOptions {
  /** Longest sleep between passes; a pass also runs as soon as the next sandbox expires. Default 30 s. */
  intervalMs?: number;
  /** How long one pass holds the `reaper` lease; renewed between steps. Default max(3 x interval, 60 s). */
  leaseMs?: number;
  /** Lease holder name; default `<hostname>:<pid>:<random>`. */
  holder?: string;
  /** Defaults to the broker's clock, so a fake clock drives expiry and lease alike. */
  clock?: Clock;
  /** Injected sleep (tests); must resolve early when `signal` aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Run `reconcile({deep: true})` each pass (default true). */
  reconcile?: boolean;
  /** Teardowns in flight at once (default 4). */
  concurrency?: number;
  onPass?: (pass: ReaperPass) => void;
  /** Keep warm pools filled (docs/pools.md) under the same lease (default true). */
  pools?: boolean;
  /** How often the pool keeper looks for pools below their size (default 1 s; at once while one is short). */
  poolIntervalMs?: number;
  /** Refill creates in flight per pool (default 1). */
  poolConcurrency?: number;
  onRefill?: (report: RefillReport | { error: string }) => void;
}

export interface ReaperPass {
  at: string;
  holder: string;
  /** false when another reaper holds the lease: this pass only took over the in-flight records of dead owners. */
  acted: boolean;
  heldBy: string | null;
  expired: ExpireReport | null;
  retried: RetryReport | null;
  reconciled: ReconcileReport | null;
  errors: string[];
  /** How long the loop sleeps before the next pass. */
  nextInMs: number;
}

export interface Reaper {
  readonly holder: string;
  /** One pass now (also what the loop runs). */
  tick(): Promise<ReaperPass>;
  /** One pool refill pass now, if this reaper holds (or can take) the lease. */
  refill(): Promise<RefillReport | null>;
  /** Stop after the current pass and release the lease. */
  stop(): Promise<void>;
  /** Settles when the loop has stopped. */
  readonly done: Promise<void>;
}

const defaultSleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });

/** A reaper whose loop has not started: `tick()` by hand (tests), or `run()`. */
export function createReaper(broker: Broker, opts: ReaperOptions = {}) {
  const intervalMs = opts.intervalMs ?? 30_000;
  const leaseMs = opts.leaseMs ?? Math.max(3 * intervalMs, 60_000);
  const holder = opts.holder ?? `${hostname()}:${process.pid}:${base32(6)}`;
  const clock = opts.clock ?? broker.clock;
  const sleep = opts.sleep ?? defaultSleep;
  const stopper = new AbortController();

  const lease = (): Promise<boolean> => {
    const now = clock.now();
    return broker.acquireLease(REAPER_LEASE, holder, now, new Date(now.getTime() + leaseMs));
  };
  const wake = async () => nextWakeMs(await broker.list({ states: ["ready"] }), clock.now(), intervalMs);
  // Renew before each teardown or refill create: a long pass must not let a second reaper in behind it.
  // After stop() no new one starts; those in flight finish, the rest wait for the next reaper.
  const renew = async () => {
    if (stopper.signal.aborted) throw new Error("reaper stopping; left for the next pass");
    if (!(await lease())) throw new Error("reaper lease lost to another holder");
  };

  /** One refill pass over the pools, only while holding the lease: two processes never overfill a pool. */
  async function refill(): Promise<RefillReport | null> {
    if (!(await lease())) return null;
    return broker.refillPools({ perPool: opts.poolConcurrency, beforeEach: renew });
  }

  /** The pool keeper: refill passes back to back while a pool is short, else every poolIntervalMs. */
  async function keep(): Promise<void> {
    const every = opts.poolIntervalMs ?? 1000;
    while (!stopper.signal.aborted) {
      let short = false;
      try {
        const r = await refill();
        if (r) {
          short = r.short;
          opts.onRefill?.(r);
        }
      } catch (err) {
        opts.onRefill?.({ error: toSandboxerError(err).message });
      }
      await sleep(short ? 0 : every, stopper.signal);
    }
  }

  async function tick(): Promise<ReaperPass> {
    const pass: ReaperPass = {
      at: clock.now().toISOString(),
      holder,
      acted: false,
      heldBy: null,
      expired: null,
      retried: null,
      reconciled: null,
      errors: [],
      nextInMs: intervalMs,
    };
    if (!(await lease())) {
      pass.heldBy = await broker.leaseHolder(REAPER_LEASE);
      // The in-flight records of a dead replica need not wait for the reaper lease (it may be the dead one's):
      // every replica takes them over once their owner is judged gone, each a compare-and-set.
      if (opts.reconcile ?? true) {
        pass.reconciled = await broker.reconcile().catch((err) => {
          pass.errors.push(`reconcile: ${toSandboxerError(err).message}`);
          return null;
        });
      }
      return pass;
    }
    pass.acted = true;
    pass.heldBy = holder;
    const step = async <T>(name: string, fn: () => Promise<T>): Promise<T | null> => {
      try {
        await renew();
        return await fn();
      } catch (err) {
        pass.errors.push(`${name}: ${toSandboxerError(err).message}`);
        return null;
      }
    };
    pass.expired = await step("expire", () => broker.expire({ apply: true, concurrency: opts.concurrency, beforeEach: renew }));
    pass.retried = await step("retry", () => broker.retryDestroyFailed({ concurrency: opts.concurrency, beforeEach: renew }));
    if (opts.reconcile ?? true) pass.reconciled = await step("reconcile", () => broker.reconcile({ deep: true }));
    await step("events", () => broker.flushEvents(1000));
    pass.nextInMs = await wake();
    return pass;
  }

  async function run(): Promise<void> {
    const keeper = opts.pools === false ? Promise.resolve() : keep();
    try {
      while (!stopper.signal.aborted) {
        let pass: ReaperPass;
        try {
          pass = await tick();
        } catch (err) {
          pass = {
            at: clock.now().toISOString(),
            holder,
            acted: false,
            heldBy: null,
            expired: null,
            retried: null,
            reconciled: null,
            errors: [toSandboxerError(err).message],
            nextInMs: intervalMs,
          };
        }
        opts.onPass?.(pass);
        // A reaper without the lease polls on the interval, ready to take over when the holder stops.
        await sleep(pass.acted ? Math.max(MIN_SLEEP_MS, pass.nextInMs) : intervalMs, stopper.signal);
      }
    } finally {
      await keeper;
      await broker.releaseLease(REAPER_LEASE, holder);
    }
  }

  return { holder, tick, refill, run, stopper };
}

/** Start the reaper loop in the background; `serve` and `sandboxer reaper` call this. */
export function startReaper(broker: Broker, opts: ReaperOptions = {}): Reaper {
  const r = createReaper(broker, opts);
  const done = r.run();
  return {
    holder: r.holder,
    tick: r.tick,
    refill: r.refill,
    done,
    async stop() {
      r.stopper.abort();
      await done;
    },
  };
}

/**
 * The outbox publisher of one `serve` replica: every replica runs one, and
 * their claims never overlap (Postgres: an advisory lock per claim; SQLite: its write lock),
 * so each event is posted by one of them. Woken by new events (from any
 * replica where the store notifies) or every `intervalMs` for retries that
 * fall due. Stops by itself when no State Hub is configured.
 */
export function startPublisher(broker: Broker, opts: { intervalMs?: number; budgetMs?: number } = {}): { stop(): Promise<void>; readonly done: Promise<void> } {
  const stopper = new AbortController();
  const intervalMs = opts.intervalMs ?? 1000;
  const done = (async () => {
    let after = 0;
    while (!stopper.signal.aborted) {
      try {
        if ((await broker.flushEvents(opts.budgetMs ?? 5000)) === null) return;
        // Follow the newest seq, so the wait below ends when a newer event is committed (at start: skip the history).
        for (;;) {
          const page = await broker.events({ afterSeq: after, limit: 1000 });
          after = page.at(-1)?.seq ?? after;
          if (page.length < 1000) break;
        }
      } catch {
        // The store or the hub is down: the events wait in the outbox; try again next round.
      }
      await broker.awaitEvents(after, intervalMs, stopper.signal);
    }
  })();
  return {
    done,
    async stop() {
      stopper.abort();
      await done;
    },
  };
}
