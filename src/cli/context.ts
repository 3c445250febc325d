import { type Broker, createBroker } from "../broker.js";
import type { ProgressNote } from "../broker/runtime.js";
import type { Env } from "../config.js";
import type { Out } from "./output.js";

export interface CliContext {
  out: Out;
  env: Env;
  onProgress: ((note: ProgressNote) => void) | undefined;
  /** Opened on first use, so `--help` and usage errors never touch the store. */
  broker(): Broker;
  opened(): Broker | undefined;
}

export function makeContext(out: Out, env: Env): CliContext {
  let broker: Broker | undefined;
  const cx: CliContext = {
    out,
    env,
    onProgress: undefined,
    broker() {
      broker ??= createBroker({ env, onProgress: (n) => cx.onProgress?.(n) });
      return broker;
    },
    opened: () => broker,
  };
  return cx;
}
