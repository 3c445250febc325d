/**
 * `notifications/cancelled` on the stateless HTTP endpoint. A 2025-era client
 * cancels a call by POSTing the notification as an exchange of its own: it
 * reaches a fresh server instance that never saw the call, so the SDK alone
 * would drop it and the call (an exec_command) would run on. Calls in progress
 * are kept here by token and JSON-RPC id, and a cancellation aborts the one
 * call it names. (A 2026-era client aborts the call's own stream instead,
 * which the request's signal already carries.)
 *
 * Only the token that made the call can cancel it. Ids are the client's own,
 * so two clients sharing a token may use the same one: a cancellation that
 * matches more than one call in progress stops none (the clients can still
 * hang up), rather than stop another client's command.
 */

type Id = string | number;

interface Message {
  method?: unknown;
  id?: unknown;
  params?: { requestId?: unknown };
}

const isId = (v: unknown): v is Id => typeof v === "string" || (typeof v === "number" && Number.isFinite(v));
const messagesOf = (body: unknown): Message[] => (Array.isArray(body) ? body : [body]).filter((m): m is Message => typeof m === "object" && m !== null);
const keyOf = (tokenId: string, id: Id) => `${tokenId}\0${typeof id}:${id}`;

export class CallCancels {
  private readonly calls = new Map<string, Set<AbortController>>();

  /**
   * The requests of one exchange, cancellable until `done`: the signal aborts
   * when a cancellation names one of them. Undefined when it carries none.
   */
  track(tokenId: string, body: unknown): { signal: AbortSignal; done(): void } | undefined {
    const keys = messagesOf(body)
      .filter((m) => typeof m.method === "string" && isId(m.id))
      .map((m) => keyOf(tokenId, m.id as Id));
    if (!keys.length) return undefined;
    const ctrl = new AbortController();
    for (const k of keys) {
      const set = this.calls.get(k) ?? new Set();
      set.add(ctrl);
      this.calls.set(k, set);
    }
    let done = false;
    return {
      signal: ctrl.signal,
      done: () => {
        if (done) return;
        done = true;
        for (const k of keys) {
          const set = this.calls.get(k);
          set?.delete(ctrl);
          if (set?.size === 0) this.calls.delete(k);
        }
      },
    };
  }

  /** Apply the cancellations an exchange carries, by its own token. */
  cancel(tokenId: string, body: unknown): void {
    for (const m of messagesOf(body)) {
      if (m.method !== "notifications/cancelled" || !isId(m.params?.requestId)) continue;
      const set = this.calls.get(keyOf(tokenId, m.params.requestId));
      if (set?.size !== 1) continue;
      for (const ctrl of set) ctrl.abort(new Error("the client cancelled the call"));
    }
  }
}
