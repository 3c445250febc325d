/**
 * The newest event seq, so a page can tell its stream where it left off
 * (nothing between the render and the stream's start is missed). Found by
 * galloping then bisecting "is there an event after n?", and remembered, so
 * the usual answer is one indexed lookup.
 */
import type { SandboxEvent } from "../types.js";

type EventsFn = (o: { afterSeq: number; limit: number }) => SandboxEvent[] | Promise<SandboxEvent[]>;

export class SeqTracker {
  private best = 0;
  constructor(private readonly events: EventsFn) {}

  private async firstAfter(n: number): Promise<number | undefined> {
    return (await this.events({ afterSeq: n, limit: 1 }))[0]?.seq;
  }

  async latest(): Promise<number> {
    let best = this.best;
    const first = await this.firstAfter(best);
    if (first === undefined) return best;
    best = first;
    // Gallop to a bound with nothing after it, then bisect between the two.
    let step = 256;
    let hi = best + step;
    for (let next = await this.firstAfter(hi); next !== undefined; next = await this.firstAfter(hi)) {
      best = next;
      step *= 4;
      hi = best + step;
    }
    while (best < hi) {
      const mid = Math.floor((best + hi) / 2);
      const next = await this.firstAfter(mid);
      if (next === undefined) hi = mid;
      else best = next;
    }
    this.best = best;
    return best;
  }
}
