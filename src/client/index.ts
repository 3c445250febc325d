import type { z } from "zod";
import type * as S from "../api/schemas.js";
import type { DrainReport, PoolSetting, PoolStatus } from "../broker.js";
import { type ErrorCode, isErrorCode, SandboxerError } from "../errors.js";
import { type SseMessage, sseMessages } from "./sse.js";

export type Sandbox = z.infer<typeof S.SandboxRecord>;
export type CreateSandboxBody = z.input<typeof S.CreateBody>;
export type ListSandboxesQuery = z.input<typeof S.ListQuery>;
export type SandboxPage = z.infer<typeof S.SandboxList>;
export type SandboxEvent = z.infer<typeof S.EventRecord>;
export type EventPage = z.infer<typeof S.EventList>;
export type ExecResult = z.infer<typeof S.ExecResult>;
export type HostInfo = z.infer<typeof S.HostRecord>;
export type ProfileList = z.infer<typeof S.ProfileList>;
export type ReconcileReport = z.infer<typeof S.ReconcileReport>;
export type Health = z.infer<typeof S.Health>;
export type Snapshot = z.infer<typeof S.SnapshotRecord>;
export type RestoreBody = z.input<typeof S.RestoreBody>;
export type ExpireReport = z.infer<typeof S.ExpireReport>;
export type Credits = z.infer<typeof S.Credits>;
export type CreditEntry = z.infer<typeof S.CreditEntry>;
export type Plan = z.infer<typeof S.PlanResult>;
export type JsonRecord = Record<string, unknown>;

export interface ClientOptions {
  /** Base URL of `sandboxer serve`, e.g. http://127.0.0.1:7070 */
  url: string;
  /** Bearer token from `sandboxer tokens create`. */
  token?: string | undefined;
  /** Injected fetch (tests, proxies). */
  fetch?: typeof fetch;
}

const STATUS_CODES: Record<number, ErrorCode> = {
  400: "SBX_USAGE",
  401: "SBX_UNAUTHORIZED",
  403: "SBX_FORBIDDEN",
  404: "SBX_NOT_FOUND",
  409: "SBX_INVALID_STATE",
  429: "SBX_RATE_LIMITED",
};

/** A response body as data, or the server's error as the SandboxerError it was. */
export function decodeResponse<T>(status: number, text: string): T {
  let parsed: unknown;
  try {
    parsed = text === "" ? null : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (status >= 200 && status < 300) {
    if (parsed === undefined) throw new SandboxerError("SBX_INTERNAL", `server answered ${status} with a body that is not JSON`);
    return parsed as T;
  }
  const e = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
  const code: ErrorCode = e?.code && isErrorCode(e.code) ? e.code : (STATUS_CODES[status] ?? "SBX_INTERNAL");
  throw new SandboxerError(code, e?.message ?? `HTTP ${status}: ${text.slice(0, 200)}`, { details: { status } });
}

type Query = Record<string, string | number | boolean | undefined>;

/** Typed client for every route of the sand-boxer HTTP API (see docs/api.md). */
export class SandboxerClient {
  readonly url: string;
  private readonly token: string | undefined;
  private readonly fetchImpl: typeof fetch;

  constructor(opts: ClientOptions) {
    this.url = opts.url.replace(/\/+$/, "");
    this.token = opts.token;
    this.fetchImpl = opts.fetch ?? fetch;
  }

  /** URL and headers of a request. */
  prepare(path: string, opts: { query?: Query; headers?: Record<string, string>; json?: boolean } = {}): { url: string; headers: Record<string, string> } {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) qs.set(k, String(v));
    const headers: Record<string, string> = { Accept: "application/json", ...(opts.headers ?? {}) };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (opts.json) headers["Content-Type"] = "application/json";
    return { url: `${this.url}${path}${qs.size ? `?${qs}` : ""}`, headers };
  }

  async request<T>(
    method: string,
    path: string,
    opts: { query?: Query; body?: unknown; headers?: Record<string, string>; signal?: AbortSignal | undefined } = {},
  ): Promise<T> {
    const { url, headers } = this.prepare(path, { query: opts.query, headers: opts.headers, json: opts.body !== undefined });
    let res: Response;
    try {
      res = await this.fetchImpl(url, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body), signal: opts.signal ?? null });
    } catch (err) {
      if (opts.signal?.aborted) throw new SandboxerError("SBX_CANCELLED", "request cancelled", { cause: err });
      let cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      // fetch quotes a header it refuses: never let the token reach the message.
      if (this.token && cause.includes(this.token.slice(0, 12))) cause = "the token is not a valid HTTP header value (not shown: it is a secret)";
      throw new SandboxerError("SBX_HOST_UNREACHABLE", `cannot reach the sand-boxer server at ${this.url}: ${cause}`, { cause: err });
    }
    return decodeResponse<T>(res.status, await res.text());
  }

  createSandbox(body: CreateSandboxBody = {}, opts: { wait?: boolean; idempotencyKey?: string | undefined; signal?: AbortSignal } = {}): Promise<Sandbox> {
    return this.request("POST", "/v1/sandboxes", {
      body,
      query: { wait: opts.wait === false ? "false" : undefined },
      headers: opts.idempotencyKey ? { "Idempotency-Key": opts.idempotencyKey } : {},
      signal: opts.signal,
    });
  }
  listSandboxes(query: ListSandboxesQuery = {}): Promise<SandboxPage> {
    return this.request("GET", "/v1/sandboxes", { query: query as Query });
  }
  /** Every page of a listing. */
  async listAllSandboxes(query: Omit<ListSandboxesQuery, "cursor"> = {}): Promise<Sandbox[]> {
    const out: Sandbox[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.listSandboxes({ ...query, limit: query.limit ?? 500, cursor });
      out.push(...page.items);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    return out;
  }
  getSandbox(id: string): Promise<Sandbox> {
    return this.request("GET", `/v1/sandboxes/${encodeURIComponent(id)}`);
  }
  destroySandbox(id: string): Promise<Sandbox> {
    return this.request("DELETE", `/v1/sandboxes/${encodeURIComponent(id)}`);
  }
  recreateSandbox(id: string): Promise<Sandbox> {
    return this.request("POST", `/v1/sandboxes/${encodeURIComponent(id)}/recreate`);
  }
  /** `signal`: aborting it hangs up, which stops the command on the server (its whole group). */
  exec(
    id: string,
    command: string[],
    opts: { service?: string; timeout?: string; stdin?: string; stdinBase64?: string } = {},
    signal?: AbortSignal,
  ): Promise<ExecResult> {
    return this.request("POST", `/v1/sandboxes/${encodeURIComponent(id)}/exec`, { body: { command, ...opts }, signal });
  }
  extendTtl(id: string, duration: string): Promise<Sandbox> {
    return this.request("POST", `/v1/sandboxes/${encodeURIComponent(id)}/ttl`, { body: { duration } });
  }
  createSnapshot(id: string, opts: { name?: string | undefined } = {}): Promise<Snapshot> {
    return this.request("POST", `/v1/sandboxes/${encodeURIComponent(id)}/snapshots`, { body: opts });
  }
  listSnapshots(query: { sandbox?: string | undefined; profile?: string | undefined; project?: string | undefined } = {}): Promise<Snapshot[]> {
    return this.request("GET", "/v1/snapshots", { query });
  }
  getSnapshot(id: string): Promise<Snapshot> {
    return this.request("GET", `/v1/snapshots/${encodeURIComponent(id)}`);
  }
  deleteSnapshot(id: string): Promise<Snapshot> {
    return this.request("DELETE", `/v1/snapshots/${encodeURIComponent(id)}`);
  }
  restoreSnapshot(id: string, body: RestoreBody = {}): Promise<Sandbox> {
    return this.request("POST", `/v1/snapshots/${encodeURIComponent(id)}/restore`, { body });
  }
  expire(opts: { apply?: boolean } = {}): Promise<ExpireReport> {
    return this.request("POST", "/v1/expire", { body: opts });
  }
  credits(opts: { project?: string | undefined } = {}): Promise<Credits> {
    return this.request("GET", "/v1/credits", { query: opts });
  }
  creditHistory(opts: { project?: string | undefined; since?: string | undefined; limit?: number | undefined } = {}): Promise<CreditEntry[]> {
    return this.request("GET", "/v1/credits/history", { query: opts });
  }
  addCredits(body: z.input<typeof S.CreditsAdd>): Promise<Credits> {
    return this.request("POST", "/v1/credits", { body });
  }
  /** Warm pools (adm tokens only). */
  pools(): Promise<{ pools: PoolStatus[] }> {
    return this.request("GET", "/v1/pools");
  }
  setPool(body: PoolSetting): Promise<PoolStatus> {
    return this.request("POST", "/v1/pools", { body });
  }
  drainPool(body: { profile: string; inputs?: Record<string, string> | undefined }): Promise<DrainReport> {
    return this.request("POST", "/v1/pools/drain", { body });
  }
  /** What a create with this body would do now, creating nothing (`sandboxer route explain`). */
  plan(body: CreateSandboxBody = {}): Promise<Plan> {
    return this.request("POST", "/v1/plan", { body });
  }
  hosts(): Promise<HostInfo[]> {
    return this.request("GET", "/v1/hosts");
  }
  profiles(): Promise<ProfileList> {
    return this.request("GET", "/v1/profiles");
  }
  extensions(): Promise<JsonRecord[]> {
    return this.request("GET", "/v1/extensions");
  }
  reconcile(): Promise<ReconcileReport> {
    return this.request("POST", "/v1/reconcile");
  }
  health(): Promise<Health> {
    return this.request("GET", "/healthz");
  }
  openapi(): Promise<JsonRecord> {
    return this.request("GET", "/openapi.json");
  }
  /** One JSON page of events after `after` (seq). */
  events(opts: { sandbox?: string | undefined; after?: number; limit?: number } = {}): Promise<EventPage> {
    return this.request("GET", "/v1/events", { query: { ...opts, format: "json" } });
  }

  /**
   * Follow the live event stream. Reconnects after a dropped connection and
   * resumes with Last-Event-ID, so no event is lost or repeated.
   */
  async *streamEvents(opts: { sandbox?: string; after?: number; signal?: AbortSignal; retryMs?: number } = {}): AsyncGenerator<SandboxEvent> {
    let last = opts.after;
    while (!opts.signal?.aborted) {
      const { url, headers } = this.prepare("/v1/events", { query: { sandbox: opts.sandbox, format: "sse" } });
      headers.Accept = "text/event-stream";
      if (last !== undefined) headers["Last-Event-ID"] = String(last);
      let res: Response;
      try {
        res = await this.fetchImpl(url, { headers, signal: opts.signal ?? null });
      } catch (err) {
        if (opts.signal?.aborted) return;
        await new Promise((r) => setTimeout(r, opts.retryMs ?? 500));
        void err;
        continue;
      }
      if (res.status !== 200 || !res.body) decodeResponse(res.status, await res.text());
      try {
        for await (const m of sseMessages(res.body as ReadableStream<Uint8Array>)) {
          const e = eventFrom(m);
          if (!e) continue;
          last = e.seq;
          yield e;
        }
      } catch (err) {
        if (opts.signal?.aborted) return;
        void err;
      }
      await new Promise((r) => setTimeout(r, opts.retryMs ?? 500));
    }
  }
}

function eventFrom(m: SseMessage): SandboxEvent | undefined {
  if (!m.data) return undefined;
  try {
    return JSON.parse(m.data) as SandboxEvent;
  } catch {
    return undefined;
  }
}
