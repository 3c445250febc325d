/**
 * The toolbox half of the Daytona fake: the sandbox daemon's process-session
 * API, which the SDK reaches at `{toolboxProxyUrl}/{sandboxId}` with the
 * generated `@daytona/toolbox-api-client` (ProcessApi):
 *   POST   /process/session                 {sessionId}                   201
 *   POST   /process/session/{sid}/exec      {command, runAsync?, async?}  200 {cmdId, exitCode, output, stdout, stderr}
 *   DELETE /process/session/{sid}                                          204
 *   POST   /files/bulk-upload   multipart: `files[N].path` fields and `files[N].file` parts   200
 *   POST   /files/bulk-download {paths}  200 multipart/form-data: a `file` part per path
 *                               (filename = the path asked), or an `error` part with JSON {message, statusCode, code}
 * Daytona's daemon runs a session command as shell text in the session's
 * shell, in the sandbox's working directory, and reports stdout and stderr
 * apart (`output` is both, in order). The fake runs each command for real
 * with `sh -c COMMAND` in a small VM per sandbox (test/fakes/vm.ts, working
 * directory /home/daytona) with a clean environment; the file routes read and
 * write the same files, paths resolved inside the VM. Not modelled: shell
 * state kept between commands of one session (ext.daytona uses one session
 * per command), runAsync + logs.
 */
import type { ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { constants } from "node:os";
import type { DaytonaPty } from "./daytona-pty.js";
import { type FakeVm, startVm } from "./vm.js";

/** What a fake sandbox holds for its toolbox: its workdir, sessions and running commands. */
export interface Toolbox {
  vm: Promise<FakeVm>;
  sessions: Set<string>;
  children: Set<ChildProcess>;
  /** PTY sessions by id (test/fakes/daytona-pty.ts). */
  ptys: Map<string, DaytonaPty>;
}

export type ToolboxOp = "session-create" | "session-exec" | "session-delete";

export function newToolbox(id: string): Toolbox {
  const vm = startVm(`daytona-${id.slice(0, 8)}`, "/home/daytona");
  vm.catch(() => {});
  return { vm, sessions: new Set(), children: new Set(), ptys: new Map() };
}

/** The sandbox is gone: stop what runs in it and remove its directory. */
export function removeToolbox(t: Toolbox): void {
  for (const c of t.children) c.kill("SIGKILL");
  t.children.clear();
  t.sessions.clear();
  t.vm.then((vm) => vm.kill()).catch(() => {});
}

/** Which toolbox operation a request is, or undefined for an unknown route. */
export function toolboxOp(method: string | undefined, path: string): { op: ToolboxOp; sessionId?: string } | undefined {
  if (path === "/process/session" && method === "POST") return { op: "session-create" };
  const m = path.match(/^\/process\/session\/([^/]+)(\/exec)?$/);
  if (!m?.[1]) return undefined;
  const sessionId = decodeURIComponent(m[1]);
  if (m[2] && method === "POST") return { op: "session-exec", sessionId };
  if (!m[2] && method === "DELETE") return { op: "session-delete", sessionId };
  return undefined;
}

type Reply = (status: number, body?: unknown) => void;

export async function serveToolbox(
  t: Toolbox,
  op: ToolboxOp,
  sessionId: string | undefined,
  body: Record<string, unknown>,
  res: ServerResponse,
  reply: Reply,
): Promise<void> {
  switch (op) {
    case "session-create": {
      const id = body.sessionId;
      if (typeof id !== "string" || !id) return reply(400, "sessionId is required");
      if (t.sessions.has(id)) return reply(409, `session ${id} already exists`);
      t.sessions.add(id);
      return reply(201);
    }
    case "session-delete":
      if (!sessionId || !t.sessions.delete(sessionId)) return reply(404, "session not found");
      return reply(204);
    case "session-exec": {
      if (!sessionId || !t.sessions.has(sessionId)) return reply(404, "session not found");
      const command = body.command;
      if (typeof command !== "string" || !command.trim()) return reply(400, "command cannot be empty");
      if (body.runAsync || body.async) return reply(400, "runAsync is not supported by this fake");
      const r = await run(t, await t.vm, command, res);
      return reply(200, { cmdId: randomUUID(), exitCode: r.exitCode, output: r.output, stdout: r.stdout, stderr: r.stderr });
    }
  }
}

function run(t: Toolbox, vm: FakeVm, command: string, res: ServerResponse): Promise<{ exitCode: number; output: string; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = vm.spawn(["sh", "-c", command]);
    t.children.add(child);
    // A client that gave up (timeout) leaves nothing running behind it.
    res.on("close", () => {
      if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(-child.pid, "SIGKILL");
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const both: Buffer[] = [];
    child.stdout?.on("data", (d: Buffer) => {
      out.push(d);
      both.push(d);
    });
    child.stderr?.on("data", (d: Buffer) => {
      err.push(d);
      both.push(d);
    });
    child.on("close", (code, signal) => {
      t.children.delete(child);
      const str = (b: Buffer[]) => Buffer.concat(b).toString();
      resolve({ exitCode: code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 1), output: str(both), stdout: str(out), stderr: str(err) });
    });
  });
}

/** Read a JSON request body (the toolbox client always sends JSON or nothing). */
export async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  let raw = "";
  for await (const chunk of req) raw += chunk;
  return raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
}
