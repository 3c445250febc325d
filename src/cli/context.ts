import type { Broker, ProgressNote } from "../broker.js";
import type { Reader } from "../broker/read.js";
import { remoteBroker } from "../client/remote-broker.js";
import type { Env } from "../paths.js";
import type { Out } from "./output.js";

export interface CliContext {
  out: Out;
  env: Env;
  onProgress: ((note: ProgressNote) => void) | undefined;
  /** Opened on first use, so `--help` and usage errors never touch the store. */
  broker(): Broker;
  /** Records and events only: what read commands need, without loading the catalog. */
  reader(): Reader;
  opened(): Broker | undefined;
  close(): Promise<void>;
}

type BrokerModule = typeof import("../broker.js");
type ReaderModule = typeof import("../broker/read.js");

/**
 * Modules are loaded by `main` before the command runs (dynamic import keeps a
 * cold `list` from parsing the whole broker); the accessors stay synchronous.
 */
export function makeContext(out: Out, env: Env, mods: { broker?: BrokerModule; read?: ReaderModule }): CliContext {
  let broker: Broker | undefined;
  let reader: Reader | undefined;
  const cx: CliContext = {
    out,
    env,
    onProgress: undefined,
    broker() {
      // SANDBOXER_URL: every command talks to a remote `sandboxer serve` instead of the local store.
      if (env.SANDBOXER_URL) broker ??= remoteBroker(env);
      if (!mods.broker && !broker) throw new Error("broker module not loaded for this command");
      broker ??= mods.broker?.createBroker({ env, onProgress: (n) => cx.onProgress?.(n) }) as Broker;
      return broker;
    },
    reader() {
      if (mods.broker || !mods.read) return cx.broker();
      reader ??= mods.read.openReader(env);
      return reader;
    },
    opened: () => broker,
    async close() {
      await reader?.close();
      await broker?.close();
    },
  };
  return cx;
}
