import { randomBytes } from "node:crypto";

/**
 * The access log's default sink: lines are gathered and written once per turn
 * of the event loop (one write for every request that finished in it), not
 * one synchronous stderr write per request. `flush()` writes what is pending
 * (server shutdown).
 */
export function batchedLog(write: (text: string) => void = (t) => process.stderr.write(t), maxPending = 64 * 1024): { log(line: string): void; flush(): void } {
  let pending: string[] = [];
  let size = 0;
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (!pending.length) return;
    const text = `${pending.join("\n")}\n`;
    pending = [];
    size = 0;
    write(text);
  };
  return {
    log(line) {
      pending.push(line);
      size += line.length;
      if (size >= maxPending) flush();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    flush,
  };
}

/** Request ids: a random prefix per process and a counter (16 hex characters, unique per server; no entropy spent per request). */
export function requestIds(): () => string {
  const prefix = randomBytes(4).toString("hex");
  let n = 0;
  return () => {
    n = (n + 1) >>> 0;
    return `${prefix}${n.toString(16).padStart(8, "0")}`;
  };
}
