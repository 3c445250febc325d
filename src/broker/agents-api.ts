/**
 * The broker operations agents need beyond create/exec/destroy (issue 17):
 * files in and out, detached processes, and the checks on exec's newer
 * options. createBroker spreads `agentsApi(rt)` into the broker.
 */
import type { Readable } from "node:stream";
import { SandboxerError } from "../errors.js";
import type { ExecOptions, Extension, FileEntry, FileListing } from "../extensions/define.js";
import * as files from "./files.js";
import * as procs from "./processes.js";
import type { ProcessInfo, ProcessOutput } from "./processes.js";
import type { Runtime } from "./runtime.js";

export type { ProcessInfo, ProcessOutput } from "./processes.js";
export type { FileEntry, FileListing } from "../extensions/define.js";

type Svc = { service?: string };

export interface AgentsApi {
  /** Extract a tar stream into the directory `dest` inside the sandbox (made if missing); whole or nothing. */
  putFiles(id: string, dest: string, tar: Readable, opts?: Svc): Promise<{ bytes: number }>;
  writeFile(id: string, path: string, data: Readable | Uint8Array | string, opts?: Svc & { mode?: number }): Promise<{ path: string; bytes: number }>;
  /** A tar of a file or a directory (one top entry named after it); links are archived, never followed. */
  getFiles(id: string, path: string, opts?: Svc): Promise<Readable>;
  /** A regular file's bytes as a stream (the API's raw GET). */
  openFile(id: string, path: string, opts?: Svc): Promise<Readable>;
  readFile(id: string, path: string, opts?: Svc & { maxBytes?: number }): Promise<{ data: Buffer; size: number; truncated: boolean }>;
  listFiles(id: string, path: string, opts?: Svc & { limit?: number }): Promise<FileListing>;
  /** The entry at `path` itself, or null. */
  statFile(id: string, path: string, opts?: Svc): Promise<FileEntry | null>;
  deleteFile(id: string, path: string, opts?: Svc & { recursive?: boolean }): Promise<void>;
  startProcess(id: string, argv: string[], opts?: Svc & { cwd?: string; ringBytes?: number }): Promise<ProcessInfo>;
  listProcesses(id: string): Promise<ProcessInfo[]>;
  processOutput(id: string, pid: string, opts?: { offset?: number; maxBytes?: number }): Promise<ProcessOutput>;
  killProcess(id: string, pid: string, signal?: string): Promise<ProcessInfo>;
}

export function agentsApi(rt: Runtime): AgentsApi {
  return {
    putFiles: (id, dest, tar, o) => files.putFiles(rt, id, dest, tar, o),
    writeFile: (id, path, data, o) => files.writeFile(rt, id, path, data, o),
    getFiles: (id, path, o) => files.getFiles(rt, id, path, o),
    openFile: (id, path, o) => files.openFile(rt, id, path, o),
    readFile: (id, path, o) => files.readFile(rt, id, path, o),
    listFiles: (id, path, o) => files.listFiles(rt, id, path, o),
    statFile: (id, path, o) => files.statFile(rt, id, path, o),
    deleteFile: (id, path, o) => files.deleteFile(rt, id, path, o),
    startProcess: (id, argv, o) => procs.startProcess(rt, id, argv, o),
    listProcesses: (id) => procs.listProcesses(rt, id),
    processOutput: (id, pid, o) => procs.processOutput(rt, id, pid, o),
    killProcess: (id, pid, signal) => procs.killProcess(rt, id, pid, signal),
  };
}

/** exec's newer options need a backend that can honour them; refuse rather than silently ignore. */
export function checkExecExtras(ext: Extension, extensionId: string, opts: ExecOptions): void {
  const shell = Boolean(ext.sandboxCommand);
  if (opts.timeoutMs !== undefined) {
    if (!Number.isInteger(opts.timeoutMs) || opts.timeoutMs < 1)
      throw new SandboxerError("SBX_INPUT_INVALID", "timeout: a positive duration", { details: { field: "timeout" } });
    if (!shell && !ext.capabilities.execTimeout)
      throw new SandboxerError("SBX_UNSUPPORTED", `${extensionId} cannot stop a command's process group on a timeout`, { details: { field: "timeout" } });
  }
  if (opts.stdin !== undefined && !shell && !ext.capabilities.execStdin)
    throw new SandboxerError("SBX_UNSUPPORTED", `${extensionId} cannot pass stdin to a command`, { details: { field: "stdin" } });
  if (opts.tty && !ext.capabilities.pty)
    throw new SandboxerError("SBX_UNSUPPORTED", `${extensionId} cannot give a command a terminal`, { details: { field: "tty" } });
}
