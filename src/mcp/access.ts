/**
 * The tenancy checks every tool makes before it touches a record: the same
 * functions as /v1 (src/api/tenancy.ts), so MCP can never see more than the
 * API. Another project's id answers exactly like an unknown one.
 */
import type { Readable } from "node:stream";
import type { CreateBodyT } from "../api/schemas.js";
import { canSee, createRequestFor, visibleSandbox } from "../api/tenancy.js";
import { notFound } from "../api/spec.js";
import type { Principal } from "../api/tokens.js";
import type { Broker, CreateRequest, ExecIo, ExecOptions, ExecResult, FileEntry, ProcessInfo } from "../broker.js";
import { SandboxerError } from "../errors.js";
import type { Snapshot } from "../snapshots/types.js";
import type { Sandbox } from "../types.js";

export async function sandboxFor(broker: Broker, p: Principal, id: string): Promise<Sandbox> {
  return await visibleSandbox(broker, p, id);
}

export async function snapshotFor(broker: Broker, p: Principal, id: string): Promise<Snapshot> {
  let s: Snapshot;
  try {
    s = await broker.getSnapshot(id);
  } catch (err) {
    if (err instanceof SandboxerError && err.code === "SBX_NOT_FOUND") throw notFound("snapshot", id);
    throw err;
  }
  if (!canSee(p, s.project)) throw notFound("snapshot", id);
  return s;
}

/**
 * The broker request for a create or restore, with the principal's identity
 * imposed as on /v1. An operator's request carries no `caller` (it changes
 * nothing for `adm`), so it also passes through a remote broker, whose API
 * body has no such field.
 */
export function requestFor(p: Principal, body: CreateBodyT): CreateRequest {
  const { caller, ...req } = createRequestFor(p, body, undefined);
  return p.actor === "adm" ? req : { ...req, caller };
}

/** The broker's file and process operations (docs/agents.md "Files and processes"), as the tools call them. */
export interface AgentOps {
  writeFile(
    id: string,
    path: string,
    data: Readable | Uint8Array | string,
    opts?: { service?: string; mode?: number },
  ): Promise<{ path: string; bytes: number }>;
  readFile(id: string, path: string, opts?: { service?: string; maxBytes?: number }): Promise<{ data: Buffer; size: number; truncated: boolean }>;
  listFiles(id: string, path: string, opts?: { service?: string; limit?: number }): Promise<{ entries: FileEntry[]; truncated: boolean; total: number }>;
  startProcess(id: string, argv: string[], opts?: { service?: string; cwd?: string }): Promise<ProcessInfo>;
  listProcesses(id: string): Promise<ProcessInfo[]>;
  processOutput(
    id: string,
    pid: string,
    opts?: { offset?: number; maxBytes?: number },
  ): Promise<{ data: string; offset: number; nextOffset: number; dropped: number; done: boolean; exitCode: number | null }>;
  killProcess(id: string, pid: string, signal?: string): Promise<ProcessInfo>;
  exec(id: string, argv: string[], io: ExecIo, opts?: ExecOptions & { timeoutMs?: number }): Promise<ExecResult>;
}

/**
 * The broker with its file and process operations, or SBX_UNSUPPORTED naming
 * the one this server lacks (a broker from before they existed, or a remote
 * server that does not offer them).
 */
export function agentOps<K extends keyof AgentOps>(broker: Broker, name: K): AgentOps[K] {
  const fn = (broker as unknown as Partial<AgentOps>)[name];
  if (typeof fn !== "function") throw new SandboxerError("SBX_UNSUPPORTED", `this sandboxer server has no ${name} operation yet`);
  return fn.bind(broker) as AgentOps[K];
}
