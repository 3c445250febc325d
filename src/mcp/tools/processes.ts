/** Long-running commands: start one, poll its output by offset, kill it. */
import { z } from "zod";
import { agentOps, sandboxFor } from "../access.js";
import { defineTool } from "../define.js";
import { ProcessOut, sandboxId, serviceArg } from "../records.js";
import { argvOf, commandFields, ONE_COMMAND, oneCommand } from "./command.js";

const pidArg = z.string().min(1).max(64).describe("the process id start_process returned");
const SIGNALS = ["TERM", "KILL", "INT", "HUP", "QUIT", "USR1", "USR2"] as const;

export const startProcess = defineTool({
  name: "start_process",
  title: "Start a background process",
  description:
    "Start a command in a ready sandbox without waiting for it (a server, a watcher, a long build). Returns its pid at once; read its output with read_process_output and end it with kill_process. Its output is kept in a bounded buffer on the server.",
  input: z
    .strictObject({
      id: sandboxId,
      ...commandFields,
      cwd: z.string().min(1).max(4096).optional().describe("working directory inside the sandbox"),
      service: serviceArg,
    })
    .refine(oneCommand, ONE_COMMAND),
  output: ProcessOut,
  annotations: { readOnlyHint: false, destructiveHint: true, openWorldHint: true },
  async run(args, { broker, principal, caps }) {
    await sandboxFor(broker, principal, args.id);
    const opts = { ...(args.service !== undefined ? { service: args.service } : {}), ...(args.cwd !== undefined ? { cwd: args.cwd } : {}) };
    const start = () => agentOps(broker, "startProcess")(args.id, argvOf(args), opts);
    // Over HTTP the server's session limits hold as on /v1; stdio runs as the local operator (or through a server that caps).
    return { data: caps ? await caps.startProcess(principal, args.id, start) : await start() };
  },
});

export const readProcessOutput = defineTool({
  name: "read_process_output",
  title: "Read a process's output",
  description:
    "Output of a process from start_process, from a byte offset: call again with nextOffset to get what came since (poll until done is true). dropped counts bytes that left the bounded buffer before you read them.",
  input: z.strictObject({
    id: sandboxId,
    pid: pidArg,
    offset: z.number().int().min(0).optional().describe("where to start (0 = the beginning); pass the previous nextOffset to follow"),
    maxBytes: z
      .number()
      .int()
      .min(1)
      .max(1024 * 1024)
      .optional()
      .describe("at most this much output (default 65536)"),
  }),
  output: z.object({
    data: z.string().describe("stdout and stderr as they were written"),
    offset: z.number().int(),
    nextOffset: z.number().int().describe("pass as offset to read on"),
    dropped: z.number().int(),
    done: z.boolean().describe("the process has ended and everything has been read"),
    exitCode: z.number().int().nullable(),
  }),
  annotations: { readOnlyHint: true },
  async run(args, { broker, principal }) {
    await sandboxFor(broker, principal, args.id);
    const r = await agentOps(broker, "processOutput")(args.id, args.pid, { offset: args.offset ?? 0, maxBytes: args.maxBytes ?? 65_536 });
    const status = r.done ? `ended, exit code ${r.exitCode}` : "running";
    const text = `${r.data}${r.data && !r.data.endsWith("\n") ? "\n" : ""}[${status}; nextOffset ${r.nextOffset}${r.dropped ? `; ${r.dropped} bytes dropped before this read` : ""}]`;
    return { data: r, text };
  },
});

export const killProcess = defineTool({
  name: "kill_process",
  title: "Kill a process",
  description: "Send a signal (default TERM) to a process from start_process and its children.",
  input: z.strictObject({ id: sandboxId, pid: pidArg, signal: z.enum(SIGNALS).optional().describe("default TERM") }),
  output: ProcessOut,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true },
  async run(args, { broker, principal }) {
    await sandboxFor(broker, principal, args.id);
    return { data: await agentOps(broker, "killProcess")(args.id, args.pid, args.signal ?? "TERM") };
  },
});
