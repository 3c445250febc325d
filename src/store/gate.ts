import { SandboxerError } from "../errors.js";

/**
 * One FIFO lock per SQLite database file in this process. better-sqlite3 is
 * synchronous and a connection has one transaction at a time, so an async
 * transaction (BEGIN ... awaits ... COMMIT) must keep every other statement of
 * the process out until it ends: otherwise a read would see its uncommitted
 * rows, or a write would commit or roll back with it. Shared by every
 * connection to the same file, because a second connection's BEGIN IMMEDIATE
 * would busy-wait (blocking the event loop) on a transaction that can only end
 * when the event loop runs. Other processes are kept out by SQLite's own lock.
 *
 * Single statements run at once when the gate is free (the common case: no
 * promise hop, no queue); otherwise they wait their turn in order.
 */
export class Gate {
  private held = false;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly waitLimitMs = 60_000) {}

  /** Run a synchronous operation in turn. */
  run<T>(op: () => T): Promise<T> {
    if (!this.held && this.waiting.length === 0) {
      try {
        return Promise.resolve(op());
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.enqueue().then(() => {
      try {
        return op();
      } finally {
        this.release();
      }
    });
  }

  /** Hold the gate for the whole of an async operation (a transaction). */
  async hold<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.held && this.waiting.length === 0) this.held = true;
    else await this.enqueue();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  private enqueue(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      // A transaction that never ends (or store calls made on `store` inside `tx` instead of on `t`) would hang forever.
      const timer = setTimeout(() => {
        const i = this.waiting.indexOf(go);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(
          new SandboxerError(
            "SBX_STORE",
            `waited ${this.waitLimitMs / 1000}s for the store's transaction lock: a transaction did not end (inside store.tx, use the transaction's repositories)`,
          ),
        );
      }, this.waitLimitMs);
      timer.unref();
      const go = () => {
        clearTimeout(timer);
        this.held = true;
        resolve();
      };
      this.waiting.push(go);
    });
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.held = false;
  }
}

const gates = new Map<string, { gate: Gate; users: number }>();

/** The process-wide gate of a database file (`:memory:` databases get their own). */
export function gateFor(file: string): { gate: Gate; done(): void } {
  if (file === ":memory:") return { gate: new Gate(), done() {} };
  let entry = gates.get(file);
  if (!entry) {
    entry = { gate: new Gate(), users: 0 };
    gates.set(file, entry);
  }
  entry.users++;
  const e = entry;
  return {
    gate: e.gate,
    done() {
      if (--e.users === 0 && gates.get(file) === e) gates.delete(file);
    },
  };
}
