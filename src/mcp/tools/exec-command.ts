import { z } from "zod";
import { EXEC_CAPTURE_LIMIT, type ExecOptions } from "../../broker.js";
import { sandboxFor } from "../access.js";
import { defineTool } from "../define.js";
import { sandboxId, serviceArg } from "../records.js";
import { argvOf, commandFields, ONE_COMMAND, oneCommand } from "./command.js";
import { clip } from "./clip.js";

const DEFAULT_OUTPUT = 32 * 1024;

export const execCommand = defineTool({
  name: "exec_command",
  title: "Run a command",
  description:
    "Run a command inside a ready sandbox and wait for it to end: its exit code, stdout and stderr. Long output keeps its start and end with a marker in the middle and the full size. For servers and long builds use start_process instead.",
  input: z
    .strictObject({
      id: sandboxId,
      ...commandFields,
      timeoutSeconds: z.number().int().min(1).max(86_400).optional().describe("kill the command (and its children) after this many seconds"),
      service: serviceArg,
      maxOutputBytes: z
        .number()
        .int()
        .min(256)
        .max(1024 * 1024)
        .optional()
        .describe(`how much of each stream to return (default ${DEFAULT_OUTPUT})`),
    })
    .refine(oneCommand, ONE_COMMAND),
  output: z.object({
    exitCode: z.number().int(),
    stdout: z.string(),
    stderr: z.string(),
    stdoutBytes: z.number().int().describe("the size of the whole stdout, of which `stdout` may be a part"),
    stderrBytes: z.number().int(),
    truncated: z.boolean().describe("stdout or stderr was cut (the marker says where and how much)"),
  }),
  annotations: { readOnlyHint: false, destructiveHint: true, openWorldHint: true },
  async run(args, { broker, principal, signal }) {
    await sandboxFor(broker, principal, args.id);
    // timeoutMs: the broker kills the process group when it passes. Only when asked: a server from
    // before exec timeouts refuses the field, and a plain exec must keep working against it.
    // signal: the call's (cancelled, the client gone, the server stopping): the command's group is killed then.
    const opts = {
      ...(args.service !== undefined ? { service: args.service } : {}),
      ...(args.timeoutSeconds !== undefined ? { timeoutMs: args.timeoutSeconds * 1000 } : {}),
      signal,
    } as ExecOptions;
    const r = await broker.exec(args.id, argvOf(args), { stdin: "ignore", stdout: "pipe", stderr: "pipe" }, opts);
    const max = args.maxOutputBytes ?? DEFAULT_OUTPUT;
    // A stream that filled the broker's capture was cut before it reached us: its size is a lower bound.
    const capped = (s: string) => Boolean(r.truncated) && Buffer.byteLength(s) >= EXEC_CAPTURE_LIMIT - 4;
    const out = clip(r.stdout ?? "", max, capped(r.stdout ?? ""));
    const err = clip(r.stderr ?? "", max, capped(r.stderr ?? ""));
    const data = {
      exitCode: r.exitCode,
      stdout: out.text,
      stderr: err.text,
      stdoutBytes: out.bytes,
      stderrBytes: err.bytes,
      truncated: out.cut || err.cut || Boolean(r.truncated),
    };
    const text = [`exit code ${r.exitCode}`, data.stdout && `stdout:\n${data.stdout}`, data.stderr && `stderr:\n${data.stderr}`].filter(Boolean).join("\n");
    return { data, text };
  },
});
