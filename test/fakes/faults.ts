/** Injected failures for the vendor fakes: `add(op, fault, n)` makes the next n calls of `op` fail so. */
export interface FaultQueue<K, F> {
  add(key: K, fault: F, times?: number): void;
  /** The fault for this call of `key`, if one is queued (and count it down). */
  take(key: K): F | undefined;
  clear(): void;
}

export function faultQueue<K, F>(): FaultQueue<K, F> {
  const queue: { key: K; fault: F; times: number }[] = [];
  return {
    add: (key, fault, times = 1) => {
      queue.push({ key, fault, times });
    },
    take(key) {
      const f = queue.find((x) => x.key === key && x.times > 0);
      if (!f) return undefined;
      f.times--;
      return f.fault;
    },
    clear: () => {
      queue.splice(0);
    },
  };
}
