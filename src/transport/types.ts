import type { Host } from "../types.js";
import type { StreamOptions } from "./stream.js";

export interface RunOptions {
  /** Text written to the command's stdin. */
  input?: string | Buffer;
  cwd?: string;
  env?: Record<string, string>;
  signal?: AbortSignal;
  /** Milliseconds before the command is killed (SIGTERM, then SIGKILL). */
  timeoutMs?: number;
  /** Called with each stderr/stdout line as it arrives (for progress). */
  onLine?: (line: string, stream: "stdout" | "stderr") => void;
}

export interface RunResult {
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs argv arrays on one host. Never takes shell text: quoting happens inside, once. */
export interface Transport {
  readonly host: Host;
  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /**
   * Optional: run argv with stdin/stdout as node streams (nothing buffered whole),
   * for workspace archives. Resolves after exit and after `stdout` has finished;
   * `stdout` in the result is empty. Snapshots need it on the sandbox's host.
   */
  stream?(argv: readonly string[], opts?: StreamOptions): Promise<RunResult>;
  /** Close pooled connections (a no-op locally). */
  close(): Promise<void>;
}
