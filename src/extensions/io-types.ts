/**
 * What exec and file operations exchange with an extension (argv, stdio,
 * results, directory listings). Re-exported by define.ts.
 */
import type { Readable, Writable } from "node:stream";
import type { Handle } from "../types.js";
import type { ExtensionContext } from "./define.js";

export interface ExecIo {
  stdin: "inherit" | "ignore";
  stdout: "inherit" | "pipe";
  stderr: "inherit" | "pipe";
}

/** A compose service name as sand-boxer accepts it (also what `exec --service` takes). */
export const SERVICE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export interface ExecOptions {
  /** The service whose container runs the command (extensions with `capabilities.execService`). */
  service?: string;
  /** Kill the command's whole process group (inside the sandbox) after this long; the result says `timedOut`. */
  timeoutMs?: number;
  /**
   * The caller went away (an HTTP client disconnected, an MCP call was cancelled): when it aborts,
   * the command's whole process group is killed as on a timeout, and the result says `cancelled`.
   */
  signal?: AbortSignal;
  /** Bytes for the command's stdin (the API's exec body); io.stdin is then ignored. */
  stdin?: Readable | Buffer;
  /** Every chunk of output as it arrives (streaming exec), whatever io says. */
  onOutput?: (stream: "stdout" | "stderr", chunk: Buffer) => void;
  /** A pseudo-terminal for an interactive session (`exec -it`): io must inherit all three streams. */
  tty?: boolean;
}

export interface ExecResult {
  exitCode: number;
  stdout?: string;
  stderr?: string;
  /** Captured output hit the extension's limit and was cut. */
  truncated?: boolean;
  /** Processes the kernel's OOM killer ended in the sandbox while the command ran (at its memory limit). */
  oomKilled?: number;
  /** `timeoutMs` passed and the command's process group was killed (exitCode is then 124). */
  timedOut?: boolean;
  /** `signal` aborted and the command's process group was killed (exitCode is then 130). */
  cancelled?: boolean;
}

/** A terminal's size in character cells. */
export interface TerminalSize {
  cols: number;
  rows: number;
}

/** A terminal open through a backend's own API (vendors' PTY APIs): `terminal` in define.ts. */
export interface BackendTerminal {
  /** Keys, in order (raw bytes: the far end's terminal echoes and signals). */
  send(data: Uint8Array): Promise<unknown>;
  /** Absent when the backend cannot change a running terminal's size. */
  resize?(size: TerminalSize): Promise<unknown>;
  /** The command's exit code, once the session ends. */
  wait(): Promise<number>;
  /** End the session early (the caller went away); nothing is left running where the backend can say so. */
  close(): Promise<void>;
}

/** Options of `sandboxCommand`: how the local argv it returns will be run. */
export interface SandboxCommandOptions {
  service?: string | undefined;
  /** The caller feeds stdin (else it is /dev/null on the far side). */
  stdin: boolean;
  /** Allocate a terminal (`ssh -t`, `podman exec -t`); stdio is then the caller's terminal. */
  tty?: boolean;
}

/** One entry of a directory listing (`sandboxer cp`, `GET /files?list=1`). */
export interface FileEntry {
  name: string;
  path: string;
  type: "file" | "dir" | "symlink" | "other";
  size: number;
  /** Permission bits in octal, "0644". */
  mode: string;
  /** ISO 8601. */
  mtime: string;
  /** A symlink's target, as stored (never followed). */
  target?: string;
}

export interface FileListing {
  entries: FileEntry[];
  truncated: boolean;
  total: number;
}

/**
 * Files for backends without a local command into the sandbox (vendor SDKs).
 * Paths are inside the sandbox: absolute, or relative to its working directory.
 * Writes land whole or not at all: a failed or oversized upload leaves nothing.
 */
export interface FileOps<H = Handle> {
  /** Extract a tar stream into the directory `dest` (created if missing). */
  putArchive(ctx: ExtensionContext<H>, handle: H, dest: string, tar: Readable): Promise<void>;
  /** A tar of `path` (a file or a directory) with one top entry named after it, written to `out` (the caller ends `out`). */
  getArchive(ctx: ExtensionContext<H>, handle: H, path: string, out: Writable): Promise<void>;
  writeFile(ctx: ExtensionContext<H>, handle: H, path: string, data: Readable, mode: number | undefined): Promise<void>;
  /** The bytes (at most maxBytes) written to `out`, which the caller ends; the size; null when there is no regular file at `path`. */
  readFile(ctx: ExtensionContext<H>, handle: H, path: string, out: Writable, maxBytes: number): Promise<{ size: number } | null>;
  /** A directory's children (or the file itself), at most `limit`; null when nothing is at `path`. */
  list(ctx: ExtensionContext<H>, handle: H, path: string, limit: number): Promise<FileListing | null>;
  /** The entry at `path` itself (not followed), or null. */
  stat(ctx: ExtensionContext<H>, handle: H, path: string): Promise<FileEntry | null>;
  remove(ctx: ExtensionContext<H>, handle: H, path: string, recursive: boolean): Promise<void>;
}

/** A detached process as the sandbox knows it (ProcessOps). */
export interface RemoteProcessState {
  /** "lost": it is neither running nor has a recorded exit (the sandbox restarted). */
  state: "running" | "exited" | "lost";
  exitCode: number | null;
  /** ISO 8601, when it ended. */
  endedAt: string | null;
}

/**
 * Detached processes for backends without a local command into the sandbox
 * (vendor SDKs): the process, its process group and its output ring live
 * inside the sandbox, under a process id the broker chose.
 */
export interface ProcessOps<H = Handle> {
  /** Start argv detached (its own process group), output in a ring of `ringBytes` there; returns once its group exists. */
  start(ctx: ExtensionContext<H>, handle: H, pid: string, argv: string[], opts: { cwd?: string; ringBytes: number }): Promise<void>;
  /** The state of each process asked for (absent: no such process there). */
  state(ctx: ExtensionContext<H>, handle: H, pids: string[]): Promise<Record<string, RemoteProcessState>>;
  /** Output from `offset` (at most maxBytes), the bytes no longer held before it, the total so far, and the state read first. */
  output(
    ctx: ExtensionContext<H>,
    handle: H,
    pid: string,
    offset: number,
    maxBytes: number,
  ): Promise<{ data: Buffer; offset: number; dropped: number; total: number; state: RemoteProcessState } | null>;
  /** Signal the process's whole group; false when there is no such group any more. */
  kill(ctx: ExtensionContext<H>, handle: H, pid: string, signal: string): Promise<boolean>;
}
