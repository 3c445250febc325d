/**
 * The files and processes routes for remote callers (the CLI with
 * SANDBOXER_URL, scripts): uploads and downloads stream, never held whole.
 */
import { Readable } from "node:stream";
import type { ReadableStream as WebStream } from "node:stream/web";
import type { z } from "zod";
import type * as S from "../api/schemas.js";
import { SandboxerError } from "../errors.js";
import { decodeResponse, type SandboxerClient } from "./index.js";

export type FileEntry = z.infer<typeof S.FileEntryRecord>;
export type FileList = z.infer<typeof S.FileList>;
export type ProcessInfo = z.infer<typeof S.ProcessRecord>;
export type ProcessOutput = z.infer<typeof S.ProcessOutputRecord>;

type Q = Record<string, string | number | boolean | undefined>;
const files = (id: string) => `/v1/sandboxes/${encodeURIComponent(id)}/files`;
const procs = (id: string) => `/v1/sandboxes/${encodeURIComponent(id)}/processes`;

async function raw(
  c: SandboxerClient,
  method: string,
  path: string,
  query: Q,
  init: { body?: Readable; headers?: Record<string, string> } = {},
): Promise<Response> {
  const { url, headers } = c.prepare(path, { query, headers: init.headers });
  try {
    // duplex: a streamed request body (Node's fetch needs it said).
    const body = init.body ? (Readable.toWeb(init.body) as unknown as ReadableStream) : undefined;
    return await fetch(url, { method, headers, ...(body ? { body, duplex: "half" } : {}) } as RequestInit);
  } catch (err) {
    throw new SandboxerError(
      "SBX_HOST_UNREACHABLE",
      `cannot reach the sand-boxer server at ${c.url}: ${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message}`,
      { cause: err },
    );
  }
}

async function streamOf(res: Response): Promise<Readable> {
  if (res.status !== 200 || !res.body) decodeResponse(res.status, await res.text());
  return Readable.fromWeb(res.body as unknown as WebStream<Uint8Array>);
}

export const remoteFiles = (c: SandboxerClient) => ({
  async put(
    id: string,
    path: string,
    body: Readable,
    opts: { tar?: boolean; mode?: number; service?: string | undefined } = {},
  ): Promise<{ path: string; bytes: number }> {
    const mode = opts.mode === undefined ? undefined : opts.mode.toString(8).padStart(4, "0");
    const res = await raw(
      c,
      "PUT",
      files(id),
      { path, mode, service: opts.service },
      { body, headers: { "Content-Type": opts.tar ? "application/x-tar" : "application/octet-stream" } },
    );
    return decodeResponse(res.status, await res.text());
  },
  async tar(id: string, path: string, service?: string): Promise<Readable> {
    return streamOf(await raw(c, "GET", files(id), { path, service }, { headers: { Accept: "application/x-tar" } }));
  },
  async bytes(id: string, path: string, service?: string): Promise<Readable> {
    return streamOf(await raw(c, "GET", files(id), { path, service }, { headers: { Accept: "application/octet-stream" } }));
  },
  list: (id: string, path: string, opts: { limit?: number | undefined; service?: string | undefined } = {}): Promise<FileList> =>
    c.request("GET", files(id), { query: { path, list: 1, ...opts } }),
  async stat(id: string, path: string, service?: string): Promise<FileEntry | null> {
    try {
      return await c.request<FileEntry>("GET", files(id), { query: { path, stat: 1, service } });
    } catch (e) {
      // The sandbox itself missing is an error; nothing at the path is an answer.
      if (e instanceof SandboxerError && e.code === "SBX_NOT_FOUND" && /no file or directory/.test(e.message)) return null;
      throw e;
    }
  },
  remove: (id: string, path: string, opts: { recursive?: boolean; service?: string | undefined } = {}): Promise<unknown> =>
    c.request("DELETE", files(id), { query: { path, recursive: opts.recursive ? 1 : undefined, service: opts.service } }),
  start: (id: string, command: string[], opts: { service?: string | undefined; cwd?: string | undefined } = {}): Promise<ProcessInfo> =>
    c.request("POST", procs(id), { body: { command, ...opts } }),
  processes: (id: string): Promise<ProcessInfo[]> => c.request("GET", procs(id)),
  output: (id: string, pid: string, q: { offset?: number | undefined; maxBytes?: number | undefined } = {}): Promise<ProcessOutput> =>
    c.request("GET", `${procs(id)}/${encodeURIComponent(pid)}/output`, { query: q }),
  kill: (id: string, pid: string, signal?: string): Promise<ProcessInfo> =>
    c.request("POST", `${procs(id)}/${encodeURIComponent(pid)}/kill`, { body: signal ? { signal } : {} }),
});
