/**
 * One MCP tool: its name, schemas and a `run` that calls the broker. Tools
 * never see the SDK: the registry (src/mcp/server.ts) turns what `run` returns
 * into a result with structured content, and anything it throws into an
 * `isError` result carrying the SBX_ code (src/mcp/errors.ts).
 */
import type { ToolAnnotations } from "@modelcontextprotocol/server";
import type { z } from "zod";
import type { SessionCaps } from "../api/session-caps.js";
import type { Principal } from "../api/tokens.js";
import type { Broker } from "../broker.js";
import { type ToolSchema, toolSchema } from "./schema.js";

/** What a server instance is bound to: one broker, one principal. */
export interface ToolDeps {
  broker: Broker;
  /** Whose tools these are: tenancy applies as on /v1 (stdio runs as the local operator). */
  principal: Principal;
  /** Aborted when the server shuts down; cancels creates and restores in progress. */
  shutdown?: AbortSignal | undefined;
  /** After a tool that changed state (stdio delivers pending events; `serve`'s reaper does it for HTTP). */
  afterWrite?: (() => Promise<void>) | undefined;
  /** Tool calls in progress, for a shutdown that waits for them to clean up. */
  calls?: Set<Promise<unknown>> | undefined;
  /** The server's session limits (HTTP only): background processes are counted per token and project. */
  caps?: SessionCaps | undefined;
  /** Each tool call of this exchange, so its MCP session slot is held until the call ends (HTTP only). */
  hold?: ((running: Promise<unknown>) => void) | undefined;
  /** Aborted when a cancellation sent as an exchange of its own names this exchange's call (HTTP only: src/mcp/cancels.ts). */
  cancelled?: AbortSignal | undefined;
}

/** One call of a tool. */
export interface ToolCall extends ToolDeps {
  /** Aborted when the client cancels the call, disconnects, or the server shuts down. */
  signal: AbortSignal;
  /** The client asked for progress notifications on this call. */
  wantsProgress: boolean;
  /** A progress notification to the client, when it asked for them (a no-op otherwise). */
  progress(message: string): Promise<void>;
}

/**
 * A tool's output type without the index signatures of loose records: a
 * `Sandbox` is a valid record output though its interface has no `[key: string]`.
 */
export type Reply<T> = T extends readonly (infer U)[] ? Reply<U>[] : T extends object ? { [K in keyof T as string extends K ? never : K]: Reply<T[K]> } : T;

export interface ToolReply<O> {
  data: O;
  /** What the model reads; default the data as JSON. */
  text?: string;
}

export interface ToolDef<I extends z.ZodType = z.ZodType, O extends z.ZodType = z.ZodType> {
  name: string;
  title: string;
  description: string;
  input: ToolSchema<I>;
  output: ToolSchema<O>;
  annotations: ToolAnnotations;
  /** Changes state: run `afterWrite` when it succeeds. */
  writes: boolean;
  run(args: z.output<I>, call: ToolCall): Promise<ToolReply<z.output<O>>>;
}

/** Keeps each tool's `run` typed by its own schemas while the registry holds them all. */
export function defineTool<I extends z.ZodType, O extends z.ZodType>(def: {
  name: string;
  title: string;
  description: string;
  input: I;
  output: O;
  annotations?: ToolAnnotations;
  run(args: z.output<I>, call: ToolCall): Promise<ToolReply<Reply<z.output<O>>>>;
}): ToolDef {
  const readOnly = def.annotations?.readOnlyHint ?? false;
  return {
    ...def,
    input: toolSchema(def.input),
    output: toolSchema(def.output),
    annotations: { readOnlyHint: readOnly, openWorldHint: false, ...def.annotations },
    writes: !readOnly,
  } as unknown as ToolDef;
}
