/** Files in and out of a sandbox: small ones through MCP (the API's /files routes stream big ones). */
import { z } from "zod";
import { SandboxerError } from "../../errors.js";
import { agentOps, sandboxFor } from "../access.js";
import { defineTool } from "../define.js";
import { sandboxId, serviceArg } from "../records.js";

/** The largest file write_file takes: the whole content travels in one JSON message. */
export const MAX_WRITE_BYTES = 4 * 1024 * 1024;
const pathArg = z.string().min(1).max(4096).describe("a path inside the sandbox (relative paths start at its working directory)");
const encodingArg = z.enum(["text", "base64"]);

function decode(content: string, encoding: "text" | "base64"): Buffer {
  if (encoding === "text") return Buffer.from(content, "utf8");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(content.replace(/\s+/g, ""))) {
    throw new SandboxerError("SBX_USAGE", "content: not valid base64 (use encoding text for plain text)", { details: { field: "content" } });
  }
  return Buffer.from(content, "base64");
}

export const writeFile = defineTool({
  name: "write_file",
  title: "Write a file",
  description: `Create or replace a file inside a sandbox (parent directories are made). Up to ${MAX_WRITE_BYTES / 1024 / 1024} MiB; binary content as base64.`,
  input: z.strictObject({
    id: sandboxId,
    path: pathArg,
    content: z
      .string()
      .max(Math.ceil((MAX_WRITE_BYTES * 4) / 3) + 4)
      .describe("the whole new content of the file (base64 when encoding is base64)"),
    encoding: encodingArg.optional().describe("text (default, UTF-8) or base64"),
    mode: z
      .string()
      .regex(/^0?[0-7]{3}$/, "an octal mode like 644 or 755")
      .optional()
      .describe("permissions, like 644 or 755 (default 644)"),
    service: serviceArg,
  }),
  output: z.object({ path: z.string(), bytes: z.number().int() }),
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true },
  async run(args, { broker, principal }) {
    await sandboxFor(broker, principal, args.id);
    const data = decode(args.content, args.encoding ?? "text");
    if (data.length > MAX_WRITE_BYTES) {
      throw new SandboxerError(
        "SBX_USAGE",
        `content: ${data.length} bytes is more than write_file takes (${MAX_WRITE_BYTES}); use PUT /v1/sandboxes/{id}/files for big files`,
        { details: { field: "content" } },
      );
    }
    const opts = {
      ...(args.service !== undefined ? { service: args.service } : {}),
      ...(args.mode !== undefined ? { mode: Number.parseInt(args.mode, 8) } : {}),
    };
    return { data: await agentOps(broker, "writeFile")(args.id, args.path, data, opts) };
  },
});

export const readFile = defineTool({
  name: "read_file",
  title: "Read a file",
  description:
    "Read a file from a sandbox, as text or base64 (text that is not valid UTF-8 comes back as base64). Big files are cut at maxBytes (truncated says so).",
  input: z.strictObject({
    id: sandboxId,
    path: pathArg,
    encoding: encodingArg.optional().describe("text (default) or base64"),
    maxBytes: z.number().int().min(1).max(MAX_WRITE_BYTES).optional().describe("read at most this much (default 262144)"),
    service: serviceArg,
  }),
  output: z.object({
    path: z.string(),
    content: z.string(),
    encoding: encodingArg.describe("how content is encoded"),
    size: z.number().int().describe("the whole file's size in bytes"),
    truncated: z.boolean(),
  }),
  annotations: { readOnlyHint: true },
  async run(args, { broker, principal }) {
    await sandboxFor(broker, principal, args.id);
    const opts = { maxBytes: args.maxBytes ?? 256 * 1024, ...(args.service !== undefined ? { service: args.service } : {}) };
    const r = await agentOps(broker, "readFile")(args.id, args.path, opts);
    let encoding = args.encoding ?? "text";
    let content: string;
    try {
      // fatal: bytes that are not UTF-8 must not turn into replacement characters an agent would write back.
      content = encoding === "text" ? new TextDecoder("utf-8", { fatal: true }).decode(r.data) : r.data.toString("base64");
    } catch {
      encoding = "base64";
      content = r.data.toString("base64");
    }
    const data = { path: args.path, content, encoding, size: r.size, truncated: r.truncated };
    const note = r.truncated ? `\n[... sandboxer: cut at ${r.data.length} of ${r.size} bytes ...]` : "";
    return { data, text: encoding === "text" ? `${content}${note}` : JSON.stringify(data) };
  },
});

export const listFiles = defineTool({
  name: "list_files",
  title: "List files",
  description:
    "The entries of a directory inside a sandbox (name, type, size, mode, mtime), at most limit of them; truncated and total say when there are more.",
  input: z.strictObject({
    id: sandboxId,
    path: pathArg,
    limit: z.number().int().min(1).max(1000).optional().describe("at most this many entries (default 200)"),
    service: serviceArg,
  }),
  output: z.object({
    entries: z.array(
      z.object({
        name: z.string(),
        path: z.string(),
        type: z.enum(["file", "dir", "symlink", "other"]),
        size: z.number().int(),
        mode: z.string(),
        mtime: z.string(),
        target: z.string().optional().describe("where a symlink points"),
      }),
    ),
    truncated: z.boolean(),
    total: z.number().int(),
  }),
  annotations: { readOnlyHint: true },
  async run(args, { broker, principal }) {
    await sandboxFor(broker, principal, args.id);
    const opts = { limit: args.limit ?? 200, ...(args.service !== undefined ? { service: args.service } : {}) };
    return { data: await agentOps(broker, "listFiles")(args.id, args.path, opts) };
  },
});
