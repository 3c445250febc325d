import type Database from "better-sqlite3";

type Statement = Database.Statement;

/** Every repository method as the synchronous function better-sqlite3 allows. */
export type Sync<T> = { [K in keyof T]: T[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => R : never };

/**
 * One SQLite connection as the repositories use it: statements prepared once
 * per SQL text (preparing costs more than running these small statements),
 * and `atomic` for multi-statement writes outside a transaction.
 */
export class Conn {
  private readonly cache = new Map<string, Statement>();

  constructor(readonly db: Database.Database) {}

  stmt(sql: string): Statement {
    let s = this.cache.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.cache.set(sql, s);
    }
    return s;
  }

  /** Run fn in the open transaction, or in its own BEGIN IMMEDIATE one. */
  atomic<T>(fn: () => T): T {
    if (this.db.inTransaction) return fn();
    return this.db.transaction(fn).immediate();
  }
}

/** Turn synchronous repository methods into the async contract, each call run by `run`. */
export function asAsync<T extends object>(sync: Sync<T>, run: <R>(op: () => R) => Promise<R>): T {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(sync) as [string, (...args: unknown[]) => unknown][]) {
    out[name] = (...args: unknown[]) => run(() => fn(...args));
  }
  return out as T;
}
