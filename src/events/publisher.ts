import type { Clock, SandboxEvent } from "../types.js";

/** What delivery needs of the outbox (the store's `events` repository provides it). */
export interface Outbox {
  claimPending(now: string, leaseUntil: string, limit: number): Promise<(SandboxEvent & { attempts: number })[]>;
  markDelivered(seq: number, at: string): Promise<void>;
  markFailed(seq: number, error: string, nextAttemptAt: string): Promise<void>;
  reschedule(seq: number, nextAttemptAt: string): Promise<void>;
  stats(): Promise<{ pending: number }>;
}

export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body: string; signal: AbortSignal },
) => Promise<{ ok: boolean; status: number }>;

export interface DeliveryReport {
  delivered: number;
  failed: number;
  pending: number;
  lastError: string | null;
}

/** A claim time after every schedule: every undelivered event is due by it. */
const EVERYTHING_DUE = "9999-12-31T23:59:59.999Z";

/** How long one post may take (docs/integrations/state-hub.md: a timeout of 5 s is a failed attempt). */
const POST_TIMEOUT_MS = 5000;

/** Exponential backoff: 1s, 2s, 4s ... capped at 5 minutes. */
export function backoffSeconds(attempts: number): number {
  return Math.min(300, 2 ** Math.min(attempts, 9));
}

/**
 * Deliver due outbox events to the State Hub, oldest first; no post starts
 * after `budgetMs` (one already started may take its 5 s timeout beyond it).
 * At-least-once: the event id goes in `Idempotency-Key`, so the hub drops repeats.
 * Never throws: a down hub just leaves events pending with their next attempt time.
 */
export async function deliverPending(opts: {
  outbox: Outbox;
  url: string;
  clock: Clock;
  budgetMs: number;
  fetch?: FetchLike;
  batch?: number;
  /**
   * Deliver everything undelivered now, ignoring the backoff schedule
   * (`events flush`: the operator says the hub is back). An event another
   * process holds under its delivery lease may then be sent twice, which
   * at-least-once delivery allows (the hub drops repeats by Idempotency-Key).
   */
  ignoreSchedule?: boolean;
}): Promise<DeliveryReport> {
  const send = opts.fetch ?? (globalThis.fetch as unknown as FetchLike);
  const deadline = Date.now() + opts.budgetMs;
  let delivered = 0;
  let failed = 0;
  let lastError: string | null = null;
  while (Date.now() < deadline) {
    const now = opts.clock.now();
    const lease = new Date(now.getTime() + 30_000).toISOString();
    const events = await opts.outbox.claimPending(opts.ignoreSchedule ? EVERYTHING_DUE : now.toISOString(), lease, opts.batch ?? 50);
    if (!events.length) break;
    let stop = false;
    let retryAt = now.toISOString();
    for (const e of events) {
      const left = deadline - Date.now();
      if (stop || left <= 0) {
        // Not attempted: due again with the failed one (hub down) or at once (budget spent).
        await opts.outbox.reschedule(e.seq, retryAt);
        continue;
      }
      // The budget decides whether a post starts, never cuts one short: the hub may already hold an event
      // whose answer we stopped waiting for, so a post aborted early would be sent again (a duplicate, and a
      // backoff for a hub that was fine). A started post gets the full delivery timeout.
      const err = await postEvent(send, opts.url, e, POST_TIMEOUT_MS);
      if (err === null) {
        await opts.outbox.markDelivered(e.seq, opts.clock.now().toISOString());
        delivered++;
      } else {
        failed++;
        lastError = err;
        retryAt = new Date(opts.clock.now().getTime() + backoffSeconds(e.attempts) * 1000).toISOString();
        await opts.outbox.markFailed(e.seq, err, retryAt);
        // The hub is failing: keep order and do not hammer it; the rest wait for the next run.
        stop = true;
      }
    }
    if (stop) break;
  }
  return { delivered, failed, pending: (await opts.outbox.stats()).pending, lastError };
}

async function postEvent(send: FetchLike, url: string, e: SandboxEvent, timeoutMs: number): Promise<string | null> {
  // The outbox's seq and attempt count are ours: a retry must send the very same body.
  const { seq: _seq, attempts: _attempts, ...body } = e as SandboxEvent & { attempts?: number };
  try {
    const res = await send(url, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": e.id },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    // 409 = the hub already has this event id: delivered.
    if (res.ok || res.status === 409) return null;
    return `hub answered HTTP ${res.status}`;
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    return `hub unreachable: ${cause ?? (err as Error).name}`;
  }
}
