import { z } from "zod";
import { COMPONENTS, ErrorBody } from "./schemas.js";
import type { AnyRoute } from "./spec.js";

type JsonSchema = Record<string, unknown>;

function strip(schema: JsonSchema): JsonSchema {
  const { $schema: _s, $id: _i, ...rest } = schema;
  return rest;
}

/**
 * OpenAPI 3.1 from the same zod schemas the routes validate with. Every
 * named schema becomes a component; a route whose body or response is one of
 * them refers to it, anything else is inlined.
 */
export function openApiDocument(routes: readonly AnyRoute[], serverUrl?: string): Record<string, unknown> {
  const registry = z.registry<{ id: string }>();
  const names = new Map<z.ZodType, string>();
  for (const [name, schema] of Object.entries(COMPONENTS)) {
    registry.add(schema, { id: name });
    names.set(schema, name);
  }
  const generated = z.toJSONSchema(registry, { target: "draft-2020-12", io: "input", unrepresentable: "any", uri: (id) => `#/components/schemas/${id}` });
  const components: Record<string, JsonSchema> = {};
  for (const [name, s] of Object.entries(generated.schemas)) components[name] = strip(s as JsonSchema);
  const ref = (schema: z.ZodType): JsonSchema => {
    const name = names.get(schema);
    return name
      ? { $ref: `#/components/schemas/${name}` }
      : strip(z.toJSONSchema(schema, { target: "draft-2020-12", io: "input", unrepresentable: "any" }) as JsonSchema);
  };

  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const parameters: unknown[] = [];
    const addObject = (where: "path" | "query", schema: z.ZodType | undefined) => {
      if (!schema) return;
      const js = z.toJSONSchema(schema, { target: "draft-2020-12", io: "input", unrepresentable: "any" }) as {
        properties?: Record<string, JsonSchema>;
        required?: string[];
      };
      for (const [name, prop] of Object.entries(js.properties ?? {})) {
        const { description, ...rest } = prop;
        parameters.push({
          name,
          in: where,
          required: where === "path" || (js.required ?? []).includes(name),
          ...(description ? { description } : {}),
          schema: rest,
        });
      }
    };
    addObject("path", r.params);
    addObject("query", r.query);
    for (const h of r.headers ?? []) parameters.push({ name: h.name, in: "header", required: false, description: h.description, schema: { type: "string" } });
    const responses: Record<string, unknown> = {};
    for (const [status, spec] of Object.entries(r.responses)) {
      const content: Record<string, unknown> = {};
      if (spec.sse) content["text/event-stream"] = { schema: { type: "string", description: "id: <seq>\\nevent: <type>\\ndata: <Event JSON>" } };
      for (const [type, description] of Object.entries(spec.raw ?? {})) content[type] = { schema: { type: "string", format: "binary", description } };
      if (spec.schema) content["application/json"] = { schema: ref(spec.schema) };
      else if (Number(status) >= 400) content["application/json"] = { schema: ref(ErrorBody) };
      responses[status] = { description: spec.description, ...(Object.keys(content).length ? { content } : {}) };
    }
    const op: Record<string, unknown> = {
      operationId: r.operationId,
      summary: r.summary,
      tags: [r.tag],
      ...(parameters.length ? { parameters } : {}),
      ...(r.body ? { requestBody: { required: true, content: { "application/json": { schema: ref(r.body) } } } } : {}),
      ...(r.rawBody
        ? {
            requestBody: {
              required: true,
              content: Object.fromEntries(
                Object.entries(r.rawBody).map(([type, description]) => [type, { schema: { type: "string", format: "binary", description } }]),
              ),
            },
          }
        : {}),
      responses,
      ...(r.auth === "none" ? { security: [] } : {}),
    };
    paths[r.path] ??= {};
    (paths[r.path] as Record<string, unknown>)[r.method] = op;
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "sand-boxer API",
      version: "0.1.0",
      description: "Establish, track and remove sandboxes. Errors are {error:{code,message}} with the codes of docs/errors.md.",
    },
    ...(serverUrl ? { servers: [{ url: serverUrl }] } : {}),
    security: [{ bearer: [] }],
    paths,
    components: { schemas: components, securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "a token from `sandboxer tokens create`" } } },
  };
}
