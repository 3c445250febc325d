/**
 * The machine-readable twin of registry/capabilities/execution.sandbox-provision.md,
 * generated from the running code: the CLI's commands (from the built
 * `sandboxer --help`), the HTTP routes (the table the server serves, with their
 * OpenAPI operation ids and schema names), the MCP tools (src/mcp/registry.ts,
 * with the argument and result schemas the MCP server announces), and the
 * request/response JSON schemas from our zod schemas (src/api/schemas.ts, zod
 * 4's z.toJSONSchema, the same conversion the OpenAPI document uses).
 *
 *   make registry            (= node scripts/build.mjs && npx tsx scripts/registry.ts)
 *   npx tsx scripts/registry.ts --check    exit 1 when the committed file is stale
 *
 * test/contracts/registry.test.ts checks the file against the running code.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { z } from "zod";
import { ROUTES } from "../src/api/app.js";
import { COMPONENTS } from "../src/api/schemas.js";
import { TOOLS } from "../src/mcp/registry.js";

const ROOT = join(import.meta.dirname, "..");
export const REGISTRY_FILE = join(ROOT, "registry", "capabilities", "execution.sandbox-provision.yaml");
const CLI = join(ROOT, "bin", "sandboxer");

/** Command names as the built CLI lists them in `sandboxer --help`. */
export function cliCommands(help = execFileSync(CLI, ["--help"], { encoding: "utf8" })): string[] {
  return [...help.matchAll(/^ {2}([a-z][a-z-]*) {2,}\S/gm)].map((m) => m[1] as string);
}

/** The JSON Schema of every named schema, refs pointing inside this document. */
export function schemas(): Record<string, unknown> {
  const registry = z.registry<{ id: string }>();
  for (const [name, schema] of Object.entries(COMPONENTS)) registry.add(schema, { id: name });
  const generated = z.toJSONSchema(registry, { target: "draft-2020-12", io: "input", unrepresentable: "any", uri: (id) => `#/schemas/${id}` });
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(COMPONENTS).sort()) {
    const { $schema: _s, $id: _i, ...rest } = generated.schemas[name] as Record<string, unknown>;
    out[name] = rest;
  }
  return out;
}

const nameOf = (schema: z.ZodType | undefined): string | null => {
  if (!schema) return null;
  for (const [name, s] of Object.entries(COMPONENTS)) if (s === schema) return name;
  return "inline";
};

/** Every route: method, OpenAPI path, operation id, auth, and the schema names of its body and answers. */
export function httpPaths(): Record<string, unknown>[] {
  return [...ROUTES]
    .sort((a, b) => a.path.localeCompare(b.path) || a.method.localeCompare(b.method))
    .map((r) => ({
      method: r.method,
      path: r.path,
      operationId: r.operationId,
      auth: r.auth,
      request: nameOf(r.body),
      responses: Object.fromEntries(
        Object.entries(r.responses).map(([status, spec]) => [
          status,
          spec.sse ? "text/event-stream" : (nameOf(spec.schema) ?? (Number(status) >= 400 ? "Error" : null)),
        ]),
      ),
    }));
}

/** Every MCP tool as `tools/list` announces it: name, title, hints, argument and result JSON Schemas. */
export function mcpTools(): Record<string, unknown>[] {
  const target = { target: "draft-2020-12" } as const;
  return TOOLS.map((t) => ({
    name: t.name,
    title: t.title,
    readOnly: t.annotations.readOnlyHint === true,
    input: t.input["~standard"].jsonSchema.input(target),
    output: t.output["~standard"].jsonSchema.output(target),
  }));
}

export function capabilityRegistry(help?: string): Record<string, unknown> {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
  return {
    id: "execution.sandbox-provision",
    version: pkg.version,
    status: "beta",
    owners: ["sand-boxer"],
    summary:
      "Establish, track and remove sandboxes by profile: local namespaces, compose stacks over SSH, VM workspaces, Packer builds, Kubernetes, metered SaaS.",
    docs: {
      capability: "registry/capabilities/execution.sandbox-provision.md",
      integrations: "docs/integrations/",
      errors: "docs/errors.md",
      api: "docs/api.md",
    },
    interfaces: {
      cli: {
        command: "sandboxer",
        output: "--json: one JSON document on stdout; errors {error:{code,message}} on stderr",
        exitCodes: { 0: "ok", 1: "failed", 2: "bad input", 3: "not found", 4: "refused" },
        commands: cliCommands(help),
      },
      http: { server: "sandboxer serve", openapi: "/openapi.json", auth: "Authorization: Bearer <token from `sandboxer tokens create`>", paths: httpPaths() },
      mcp: { stdio: "sandboxer mcp", http: "/mcp on sandboxer serve (same bearer tokens and tenancy as /v1)", tools: mcpTools() },
      events: {
        delivery: "POST JSON to SANDBOXER_STATE_HUB_URL, header Idempotency-Key: <event id>; at least once, in outbox order; 2xx or 409 = delivered",
        schema: "HubEvent",
      },
    },
    schemas: schemas(),
  };
}

export function render(reg: Record<string, unknown>): string {
  return `# Generated from the code by \`make registry\` (scripts/registry.ts): edit the generator or the code, not this file.\n${stringify(reg, { lineWidth: 0 })}`;
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const text = render(capabilityRegistry());
  if (process.argv.includes("--check")) {
    const same = readFileSync(REGISTRY_FILE, "utf8") === text;
    if (!same) process.stderr.write(`${REGISTRY_FILE} is stale: run make registry\n`);
    process.exitCode = same ? 0 : 1;
  } else {
    writeFileSync(REGISTRY_FILE, text);
    process.stdout.write(`wrote ${REGISTRY_FILE}\n`);
  }
}
