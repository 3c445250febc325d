import type { Context } from "hono";
import type { z } from "zod";
import type { Broker } from "../broker.js";
import { SandboxerError } from "../errors.js";
import type { SessionCaps } from "./session-caps.js";
import type { Principal } from "./tokens.js";

export interface ApiOptions {
  /** Largest accepted request body in bytes (default 64 KiB). */
  bodyLimit?: number;
  /** Sustained requests per second per token; 0 turns the limiter off (default 50). */
  rateLimit?: number;
  /** Requests a token may make in one burst above the sustained rate (default 100). */
  rateBurst?: number;
  /** Where access-log lines go (one JSON object per line); default stderr. */
  accessLog?: ((line: string) => void) | undefined;
  /** How often the SSE stream looks for new events (ms, default 100). */
  eventPollMs?: number;
}

/** What a route handler may use: the broker, never the store directly. */
export interface AppState {
  broker: Broker;
  /** Creates answered early (`wait=false`) that still run; awaited on shutdown. */
  background: Set<Promise<unknown>>;
  /** Aborted when the server shuts down: ends SSE streams, cancels background creates. */
  shutdown: AbortSignal;
  /** Open terminals, execs, MCP exchanges and background processes per token and project (sessionLimits). */
  caps: SessionCaps;
  options: Required<Omit<ApiOptions, "accessLog">> & Pick<ApiOptions, "accessLog">;
}

export interface HandlerInput<P, Q, B> {
  c: Context;
  state: AppState;
  principal: Principal;
  params: P;
  query: Q;
  body: B;
}

export type Reply = Response | { status: number; body: unknown; headers?: Record<string, string> };

export interface ResponseSpec {
  description: string;
  schema?: z.ZodType;
  /** The response is a text/event-stream (documented, not validated). */
  sse?: boolean;
  /** Non-JSON bodies this response may carry: content type -> what it holds (raw files, tar). */
  raw?: Record<string, string>;
}

export interface RouteSpec<P = unknown, Q = unknown, B = unknown> {
  method: "get" | "post" | "put" | "delete";
  /** OpenAPI-style path: `/v1/sandboxes/{id}`. */
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  /** `none`: public; `token`: any valid token; `adm`: operator tokens only. */
  auth: "none" | "token" | "adm";
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /**
   * The request body is streamed to the handler unparsed (files), with these
   * content types; the API's JSON body limit does not apply to it.
   */
  rawBody?: Record<string, string>;
  /** Headers the route reads, for the document. */
  headers?: { name: string; description: string }[];
  responses: Record<number, ResponseSpec>;
  handle(x: HandlerInput<P, Q, B>): Promise<Reply> | Reply;
}

export type AnyRoute = RouteSpec<unknown, unknown, unknown>;

/** Keeps each route's handler typed by its own schemas while the table holds them all. */
export function defineRoute<P = Record<string, never>, Q = Record<string, never>, B = undefined>(spec: RouteSpec<P, Q, B>): AnyRoute {
  return spec as unknown as AnyRoute;
}

/** The standard error responses every authenticated route can give. */
export const COMMON_ERRORS: Record<number, ResponseSpec> = {
  400: { description: "malformed request: bad JSON, unknown field, oversize body, invalid value (SBX_USAGE and friends)" },
  401: { description: "no valid bearer token (SBX_UNAUTHORIZED)" },
  429: {
    description:
      "rate limit for this token exceeded (SBX_RATE_LIMITED; see Retry-After), or, on routes that open a session, a session limit reached (SBX_SESSION_LIMIT)",
  },
};

/** 404 with the broker's own wording, so another project's ids are indistinguishable from unknown ones. */
export function notFound(what: "sandbox" | "snapshot", id: string): SandboxerError {
  return new SandboxerError("SBX_NOT_FOUND", `no ${what} '${id.slice(0, 64)}'`, { details: { id } });
}

export function unsupported(feature: string): SandboxerError {
  return new SandboxerError("SBX_UNSUPPORTED", `${feature} is not available in this build of the server`);
}
