/**
 * How many long-lived sessions one token and one project hold open on this
 * replica: interactive terminals, running execs (collected or streamed), MCP
 * exchanges in progress (a tool call, a listen stream), live event streams
 * and background processes started through the API or MCP. Each one costs the
 * server a child process, an SSH channel or a store poll, file descriptors and
 * memory; without a cap one tenant looping "open terminal" starves every other
 * (docs/security.md "Session limits").
 *
 * A slot is taken before anything is opened (a refusal leaves nothing behind)
 * and given back once, whatever ends the session. Counts live in this process
 * only: nothing here is in the store, so each replica counts its own.
 * Background processes outlive the request that started them; their slot is
 * kept by sandbox and process id until the process is seen to end (asked only
 * when a count reaches its limit) or its sandbox stops being ready.
 */
import type { Broker } from "../broker.js";
import { DEFAULT_SESSION_LIMITS, type SessionLimits } from "../config.js";
import { SandboxerError } from "../errors.js";
import type { Principal } from "./tokens.js";

export type SessionKind = keyof SessionLimits;

/** Singular and plural, for messages. */
const WORDS: Record<SessionKind, [string, string]> = {
  terminals: ["open terminal", "open terminals"],
  execs: ["running exec", "running execs"],
  processes: ["running background process", "running background processes"],
  mcp: ["MCP exchange in progress", "MCP exchanges in progress"],
  eventStreams: ["open event stream", "open event streams"],
};

/** One held session. `release` is safe to call any number of times. */
export interface Slot {
  release(): void;
}

/** A slot for a background process: `started` keeps it for the process's life, `release` gives it back (not started). */
export interface ProcessSlot extends Slot {
  started(sandboxId: string, pid: string): void;
}

interface Scope {
  key: string;
  limit: number;
  field: "perToken" | "perProject";
  who: string;
}

export class SessionCaps {
  /** Per kind and scope key: what holds a slot (a unique entry, or `sbx-…/proc-…` for a started process). */
  private readonly held = new Map<string, Set<string>>();
  private next = 0;
  private limits: Promise<SessionLimits> | undefined;

  constructor(private readonly broker: Broker) {}

  /** The server config's sessionLimits, read once (a remote broker has none: the defaults). */
  private limitsNow(): Promise<SessionLimits> {
    this.limits ??= this.broker
      .config()
      .then((c) => c.sessionLimits ?? DEFAULT_SESSION_LIMITS)
      .catch(() => DEFAULT_SESSION_LIMITS);
    return this.limits;
  }

  private scopes(kind: SessionKind, p: Principal, limits: SessionLimits): Scope[] {
    const l = limits[kind];
    const out: Scope[] = [{ key: `${kind}|t:${p.tokenId}`, limit: l.perToken, field: "perToken", who: "this token" }];
    // Operators belong to no project: their tokens are capped one by one.
    if (p.actor !== "adm" && p.project) out.push({ key: `${kind}|p:${p.project}`, limit: l.perProject, field: "perProject", who: `project '${p.project}'` });
    return out.filter((s) => s.limit > 0);
  }

  private count(key: string): number {
    return this.held.get(key)?.size ?? 0;
  }

  private full(scopes: Scope[]): Scope | undefined {
    return scopes.find((s) => this.count(s.key) >= s.limit);
  }

  private refuse(kind: SessionKind, s: Scope): SandboxerError {
    const n = this.count(s.key);
    const words = WORDS[kind];
    return new SandboxerError(
      "SBX_SESSION_LIMIT",
      `${kind}: ${s.who} already holds ${n} ${n === 1 ? words[0] : words[1]} on this server, its limit (sessionLimits.${kind}.${s.field} = ${s.limit}); close one or wait for one to end`,
      { details: { kind, limit: s.limit, count: n, scope: s.field } },
    );
  }

  private take(scopes: Scope[]): { release(): void; rekey(entry: string): void } {
    let entry = `slot-${++this.next}`;
    for (const s of scopes) {
      const set = this.held.get(s.key) ?? new Set<string>();
      this.held.set(s.key, set);
      set.add(entry);
    }
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        for (const s of scopes) {
          const set = this.held.get(s.key);
          set?.delete(entry);
          if (set?.size === 0) this.held.delete(s.key);
        }
      },
      rekey: (to: string) => {
        for (const s of scopes) {
          const set = this.held.get(s.key);
          set?.delete(entry);
          set?.add(to);
        }
        entry = to;
      },
    };
  }

  /** Hold one session of `kind` for this principal, or SBX_SESSION_LIMIT naming the limit and the count. */
  async open(kind: Exclude<SessionKind, "processes">, p: Principal): Promise<Slot> {
    const scopes = this.scopes(kind, p, await this.limitsNow());
    const over = this.full(scopes);
    if (over) throw this.refuse(kind, over);
    const t = this.take(scopes);
    return { release: t.release };
  }

  /** Hold a slot for a background process about to start; processes seen to have ended give theirs back first. */
  async openProcess(p: Principal): Promise<ProcessSlot> {
    const scopes = this.scopes("processes", p, await this.limitsNow());
    for (const s of scopes) if (this.count(s.key) >= s.limit) await this.prune(s.key);
    const over = this.full(scopes);
    if (over) throw this.refuse("processes", over);
    const t = this.take(scopes);
    return { release: t.release, started: (sandboxId, pid) => t.rekey(`${sandboxId}/${pid}`) };
  }

  /** Start a background process under a slot: kept while it runs, given back when it did not start. */
  async startProcess<T extends { pid: string }>(p: Principal, sandboxId: string, start: () => Promise<T>): Promise<T> {
    const slot = await this.openProcess(p);
    try {
      const proc = await start();
      slot.started(sandboxId, proc.pid);
      return proc;
    } catch (err) {
      slot.release();
      throw err;
    }
  }

  /** Drop the started processes of `key` that no longer run (or whose sandbox is no longer ready). */
  private async prune(key: string): Promise<void> {
    const set = this.held.get(key);
    if (!set) return;
    const bySandbox = new Map<string, string[]>();
    for (const e of set) {
      const [sbx, pid] = e.split("/");
      if (!sbx || !pid) continue;
      bySandbox.set(sbx, [...(bySandbox.get(sbx) ?? []), pid]);
    }
    for (const [sbx, pids] of bySandbox) {
      const running = await this.runningIn(sbx);
      // Unknown (the backend could not be asked): the slots stay, as the processes may.
      if (!running) continue;
      for (const pid of pids) if (!running.has(pid)) this.forget(`${sbx}/${pid}`);
    }
  }

  private async runningIn(sandboxId: string): Promise<Set<string> | undefined> {
    try {
      const sb = await this.broker.get(sandboxId);
      if (sb.state !== "ready") return new Set();
      const list = await this.broker.listProcesses(sandboxId);
      return new Set(list.filter((x) => x.state === "running").map((x) => x.pid));
    } catch (err) {
      if (err instanceof SandboxerError && err.code === "SBX_NOT_FOUND") return new Set();
      return undefined;
    }
  }

  /** A started process's slot, in every scope that holds it. */
  private forget(entry: string): void {
    for (const [key, set] of this.held) {
      if (!key.startsWith("processes|")) continue;
      set.delete(entry);
      if (set.size === 0) this.held.delete(key);
    }
  }

  /** What this replica counts now, per kind and scope key (tests and the operator's view). */
  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.held].map(([k, v]) => [k, v.size]));
  }
}
