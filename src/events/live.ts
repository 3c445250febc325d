/**
 * Live delivery: the process that writes events also delivers them to the
 * State Hub as they are written, so a long build's progress reaches the hub
 * while it runs, not when the command exits.
 *
 * `kick()` is what writers call after an event is stored: it never waits and
 * never throws. Runs are single-flight (one delivery at a time, in outbox
 * order) and coalesced (a burst of notes costs one run, at most one every
 * `gapMs`); each run is bounded by `budgetMs` and a down hub is left to the
 * outbox's backoff. Timers are unref'd: live delivery never keeps a process up.
 */
import type { DeliveryReport } from "./publisher.js";

export interface LiveDeliveryOptions {
  /** Deliver what is due, within the budget (deliverPending over the store's outbox). */
  deliver: (budgetMs: number) => Promise<DeliveryReport>;
  /** Bound of one run. Default 2 s. */
  budgetMs?: number;
  /** Least time between two runs (coalesces bursts). Default 100 ms. */
  gapMs?: number;
}

export class LiveDelivery {
  private running: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private again = false;
  private stopped = false;
  private readonly budgetMs: number;
  private readonly gapMs: number;
  /** Runs done, for tests and `--debug` output. */
  runs = 0;
  lastReport: DeliveryReport | null = null;

  constructor(private readonly opts: LiveDeliveryOptions) {
    this.budgetMs = opts.budgetMs ?? 2000;
    this.gapMs = opts.gapMs ?? 100;
  }

  /** Something was written: deliver soon. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => this.run(), this.gapMs);
    this.timer.unref();
  }

  private run(): void {
    this.timer = null;
    this.again = false;
    this.running = this.opts
      .deliver(this.budgetMs)
      .then(
        (r) => {
          this.lastReport = r;
        },
        () => undefined,
      )
      .finally(() => {
        this.runs++;
        this.running = null;
        if (this.again) this.kick();
      });
  }

  /** Wait (at most `ms`) until no run is in flight or scheduled: callers that deliver themselves keep the order. */
  async idle(ms: number): Promise<void> {
    const end = Date.now() + ms;
    while ((this.running || this.timer) && Date.now() < end) {
      if (this.timer && !this.running) {
        clearTimeout(this.timer);
        this.run();
      }
      const left = end - Date.now();
      await Promise.race([this.running, new Promise((r) => setTimeout(r, Math.max(1, left)).unref())]);
    }
  }

  /** No more runs; waits (at most `ms`) for the one in flight. */
  async stop(ms: number): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const running = this.running;
    if (running) await Promise.race([running, new Promise((r) => setTimeout(r, ms).unref())]);
  }
}
