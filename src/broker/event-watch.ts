import type { Store } from "../store/types.js";

/**
 * Wait for events to be committed, for followers of the event stream (SSE).
 * On a store that hears commits (Postgres LISTEN/NOTIFY: from any replica) a
 * wait ends as soon as an event after the follower's cursor is committed; a
 * long fallback poll covers a notification lost while the listening
 * connection reconnected. On SQLite a wait is a plain poll interval.
 * One subscription per broker, shared by every follower.
 */
export class EventWatch {
  private latest = 0;
  private readonly waiters = new Set<{ after: number; wake(): void }>();
  private sub: Promise<(() => Promise<void>) | undefined> | undefined;

  constructor(
    private readonly store: Store,
    /** Longest wait on a store that notifies. */
    private readonly fallbackMs = 1000,
  ) {}

  wait(afterSeq: number, pollMs: number, signal?: AbortSignal): Promise<void> {
    const watch = this.store.watchEvents?.bind(this.store);
    if (watch) {
      this.sub ??= watch((seq) => this.heard(seq)).catch(() => undefined);
      if (this.latest > afterSeq) return Promise.resolve();
    }
    const ms = watch ? Math.max(pollMs, this.fallbackMs) : pollMs;
    return new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const waiter = { after: afterSeq, wake };
      const timer = setTimeout(wake, ms);
      function wake() {
        clearTimeout(timer);
        signal?.removeEventListener("abort", wake);
        done();
        resolve();
      }
      const done = () => this.waiters.delete(waiter);
      signal?.addEventListener("abort", wake, { once: true });
      this.waiters.add(waiter);
    });
  }

  private heard(seq: number | null): void {
    if (seq !== null) this.latest = Math.max(this.latest, seq);
    for (const w of [...this.waiters]) if (seq === null || seq > w.after) w.wake();
  }

  async close(): Promise<void> {
    for (const w of [...this.waiters]) w.wake();
    const unlisten = await this.sub;
    this.sub = undefined;
    await unlisten?.().catch(() => {});
  }
}
