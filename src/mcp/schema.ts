/**
 * Zod schemas as the MCP SDK takes them (Standard Schema with JSON Schema).
 * Two differences from handing the SDK a zod schema directly: a rejected
 * argument answers `SBX_USAGE` naming the field (our error contract, not the
 * SDK's wording alone), and each JSON Schema is converted once per process,
 * not once per request (the HTTP endpoint builds a fresh server per request).
 */
import type { StandardSchemaWithJSON } from "@modelcontextprotocol/server";
import type { z } from "zod";

type Json = Record<string, unknown>;

/** What the tool registry holds: the SDK-facing schema and the zod schema behind it. */
export type ToolSchema<T extends z.ZodType> = StandardSchemaWithJSON<z.input<T>, z.output<T>> & { readonly zod: T };

/** `field: message; field: message` for the first few issues, in the words the API uses. */
export function usageText(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => (i.path.length ? `${i.path.map(String).join(".")}: ${i.message}` : i.message))
    .join("; ");
}

export function toolSchema<T extends z.ZodType>(schema: T): ToolSchema<T> {
  const std = schema["~standard"] as StandardSchemaWithJSON<z.input<T>, z.output<T>>["~standard"];
  const converted = new Map<string, Json>();
  type Options = Parameters<typeof std.jsonSchema.input>[0];
  const convert = (io: "input" | "output") => (opts: Options) => {
    const key = `${io}:${opts.target}`;
    let json = converted.get(key);
    if (!json) {
      json = std.jsonSchema[io](opts);
      converted.set(key, json);
    }
    return json;
  };
  return {
    zod: schema,
    "~standard": {
      version: 1,
      vendor: "sandboxer",
      validate(value: unknown) {
        const r = schema.safeParse(value);
        if (r.success) return { value: r.data as z.output<T> };
        return { issues: [{ message: `SBX_USAGE: ${usageText(r.error)}` }] };
      },
      jsonSchema: { input: convert("input"), output: convert("output") },
    },
  };
}
