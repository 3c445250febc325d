/**
 * The command-execution half of the Modal fake, as the official `modal` JS SDK
 * (0.11) runs `sandbox.exec(argv)`: it asks the control plane for the task's
 * command router (`ModalClient/TaskGetCommandRouterAccess` -> {jwt, url}), then
 * talks gRPC to `modal.task_command_router.TaskCommandRouter` at that url with
 * `authorization: Bearer <jwt>`:
 *   TaskExecStart      {task_id, exec_id, command_args, stdout_config, stderr_config, pty_info?}
 *   TaskExecStdioRead  {task_id, exec_id, offset, file_descriptor}  -> stream {data} until the fd closes
 *   TaskExecStdinWrite {task_id, exec_id, offset, data, eof}
 *   TaskExecWait       {task_id, exec_id} -> oneof {code, signal}, once the process ended
 *   TaskExecPoll       {task_id, exec_id} -> the same, or empty while it runs
 * Field numbers follow modal_proto/task_command_router.proto as compiled into
 * the SDK. The argv really runs, without a shell, in the sandbox's small VM
 * (test/fakes/vm.ts, working directory /root) with a clean environment. With
 * `pty_info` it runs on a real terminal of that size (util-linux `script`,
 * test/fakes/e2b-pty.ts), TERM from `env_term`, all output on stdout, keys
 * from stdin. Not modelled: workdir, timeout_secs, secrets.
 */
import type { ChildProcess } from "node:child_process";
import { constants } from "node:os";
import * as grpc from "@grpc/grpc-js";
import protobuf from "protobufjs";
import { ptyArgv } from "./e2b-pty.js";
import type { FakeVm } from "./vm.js";

const PROTO = `
syntax = "proto3";
package modal.task_command_router;
message PTYInfo { bool enabled = 1; uint32 winsz_rows = 2; uint32 winsz_cols = 3; string env_term = 4; }
message TaskExecStartRequest { string task_id = 1; string exec_id = 2; repeated string command_args = 3; int32 stdout_config = 4; int32 stderr_config = 5; PTYInfo pty_info = 9; }
message TaskExecStartResponse {}
message TaskExecStdioReadRequest { string task_id = 1; string exec_id = 2; uint64 offset = 3; int32 file_descriptor = 4; }
message TaskExecStdioReadResponse { bytes data = 1; }
message TaskExecStdinWriteRequest { string task_id = 1; string exec_id = 2; uint64 offset = 3; bytes data = 4; bool eof = 5; }
message TaskExecStdinWriteResponse {}
message TaskExecWaitRequest { string task_id = 1; string exec_id = 2; }
message TaskExecWaitResponse { oneof exit_status { int32 code = 1; int32 signal = 2; } }
message TaskExecPollRequest { string task_id = 1; string exec_id = 2; }
message TaskExecPollResponse { oneof exit_status { int32 code = 1; int32 signal = 2; } }
`;
const root = protobuf.parse(PROTO, { keepCase: false }).root;
const T = (name: string) => root.lookupType(`modal.task_command_router.${name}`);

export type RouterMethod = "TaskExecStart" | "TaskExecStdioRead" | "TaskExecStdinWrite" | "TaskExecWait" | "TaskExecPoll";
type Req = Record<string, unknown>;
type Fault = { code: grpc.status; details?: string } | { slowMs: number } | undefined;

/** One fd's output so far; readers are woken on each chunk and at the end. */
interface Output {
  chunks: Buffer[];
  ended: boolean;
  wake: Set<() => void>;
}

export interface ModalExec {
  execId: string;
  taskId: string;
  argv: string[];
  child: ChildProcess;
  out: [Output, Output];
  stdinWritten: number;
  exit?: { code: number } | { signal: number };
  onExit: Set<() => void>;
}

export interface RouterOptions {
  /** The VM of the live (not terminated) sandbox running this task, if any. */
  vmOfTask(taskId: string): Promise<FakeVm> | undefined;
  /** Is this a router JWT the control plane handed out? */
  tokenOk(token: string): boolean;
  fault(method: RouterMethod): Fault;
  calls: { method: string }[];
}

const STDIO_STDOUT = 0;
const CONFIG_PIPE = 1;
const status = (code: grpc.status, details: string) => Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() }) as grpc.ServiceError;

/** Add the TaskCommandRouter service to `server`; returns the execs and a way to kill a task's processes. */
export function addCommandRouter(server: grpc.Server, opts: RouterOptions) {
  const execs = new Map<string, ModalExec>();
  const find = (r: Req) => {
    const e = execs.get(String(r.execId));
    if (!e || e.taskId !== r.taskId) throw status(grpc.status.NOT_FOUND, `exec ${String(r.execId)} not found`);
    return e;
  };
  const exitOf = (e: ModalExec) => e.exit ?? {};

  const start = async (r: Req): Promise<Req> => {
    const taskId = String(r.taskId);
    const vm = await opts.vmOfTask(taskId);
    if (!vm) throw status(grpc.status.NOT_FOUND, `task ${taskId} not found or finished`);
    const argv = (r.commandArgs as string[] | undefined) ?? [];
    if (!argv[0]) throw status(grpc.status.INVALID_ARGUMENT, "command_args is empty");
    if (execs.has(String(r.execId))) throw status(grpc.status.ALREADY_EXISTS, `exec ${String(r.execId)} exists`);
    const pipe = (c: unknown) => (c === CONFIG_PIPE ? "pipe" : "ignore");
    const pty = r.ptyInfo as { winszRows?: number; winszCols?: number; envTerm?: string } | undefined;
    const child = pty
      ? vm.spawn(ptyArgv(argv[0], argv.slice(1), { cols: pty.winszCols, rows: pty.winszRows }).argv, {
          env: { TERM: pty.envTerm || "xterm" },
          stdio: ["pipe", pipe(r.stdoutConfig), "ignore"],
        })
      : vm.spawn(argv, { stdio: ["pipe", pipe(r.stdoutConfig), pipe(r.stderrConfig)] });
    const output = (): Output => ({ chunks: [], ended: false, wake: new Set() });
    const e: ModalExec = { execId: String(r.execId), taskId, argv, child, out: [output(), output()], stdinWritten: 0, onExit: new Set() };
    execs.set(e.execId, e);
    const push = (o: Output, d: Buffer | null) => {
      if (d) o.chunks.push(d);
      else o.ended = true;
      for (const w of [...o.wake]) w();
    };
    for (const [fd, stream] of [child.stdout, child.stderr].entries()) {
      const o = e.out[fd] as Output;
      if (stream) stream.on("data", (d: Buffer) => push(o, d)).on("end", () => push(o, null));
      else push(o, null);
    }
    child.stdin?.on("error", () => {});
    const finish = (exit: NonNullable<ModalExec["exit"]>) => {
      if (e.exit) return;
      e.exit = exit;
      for (const w of [...e.onExit]) w();
    };
    // A program that cannot be started ends as a shell would report it: 127 and a line on stderr.
    child.on("error", (err) => {
      push(e.out[1], Buffer.from(`${argv[0]}: ${err.message}\n`));
      for (const o of e.out) if (!o.ended) push(o, null);
      finish({ code: 127 });
    });
    child.on("close", (code, signal) => finish(code !== null ? { code } : { signal: signal ? (constants.signals[signal] ?? 0) : 0 }));
    return {};
  };

  const stdinWrite = (r: Req): Req => {
    const e = find(r);
    const data = Buffer.from((r.data as Uint8Array | undefined) ?? []);
    // Offsets make a retried write idempotent: skip what already arrived.
    const skip = Math.max(0, e.stdinWritten - Number(r.offset ?? 0));
    if (skip < data.length && e.child.stdin?.writable) e.child.stdin.write(data.subarray(skip));
    e.stdinWritten = Math.max(e.stdinWritten, Number(r.offset ?? 0) + data.length);
    if (r.eof) e.child.stdin?.end();
    return {};
  };

  const unary: Record<Exclude<RouterMethod, "TaskExecStdioRead" | "TaskExecWait">, (r: Req) => Req | Promise<Req>> = {
    TaskExecStart: start,
    TaskExecStdinWrite: stdinWrite,
    TaskExecPoll: (r) => exitOf(find(r)),
  };

  const check = (method: RouterMethod, md: grpc.Metadata): grpc.ServiceError | Fault => {
    opts.calls.push({ method });
    const auth = md.get("authorization")[0]?.toString() ?? "";
    if (!auth.startsWith("Bearer ") || !opts.tokenOk(auth.slice(7))) return status(grpc.status.UNAUTHENTICATED, "invalid or missing router token");
    return opts.fault(method);
  };
  const failed = (f: grpc.ServiceError | Fault): f is grpc.ServiceError | { code: grpc.status; details?: string } => !!f && "code" in f;
  const asError = (f: { code: grpc.status; details?: string }) =>
    "metadata" in f ? (f as grpc.ServiceError) : status(f.code, f.details ?? `injected ${grpc.status[f.code]}`);

  const service: Record<string, grpc.MethodDefinition<Req, Req>> = {};
  const impl: grpc.UntypedServiceImplementation = {};
  const methods: RouterMethod[] = ["TaskExecStart", "TaskExecStdioRead", "TaskExecStdinWrite", "TaskExecWait", "TaskExecPoll"];
  for (const method of methods) {
    const Q = T(`${method}Request`);
    const A = T(`${method}Response`);
    const streaming = method === "TaskExecStdioRead";
    service[method] = {
      path: `/modal.task_command_router.TaskCommandRouter/${method}`,
      requestStream: false,
      responseStream: streaming,
      requestDeserialize: (b: Buffer) => Q.toObject(Q.decode(b), { defaults: false, longs: Number }),
      requestSerialize: (o: Req) => Buffer.from(Q.encode(Q.fromObject(o)).finish()),
      responseSerialize: (o: Req) => Buffer.from(A.encode(A.fromObject(o)).finish()),
      responseDeserialize: (b: Buffer) => A.toObject(A.decode(b)),
    };
  }
  for (const method of Object.keys(unary) as (keyof typeof unary)[]) {
    impl[method] = (call: grpc.ServerUnaryCall<Req, Req>, cb: grpc.sendUnaryData<Req>) => {
      const f = check(method, call.metadata);
      if (failed(f)) return cb(asError(f));
      Promise.resolve()
        .then(() => unary[method](call.request))
        .then(
          (res) => {
            if (f && "slowMs" in f) setTimeout(() => cb(null, res), f.slowMs);
            else cb(null, res);
          },
          (err) => cb(err as grpc.ServiceError),
        );
    };
  }
  impl.TaskExecWait = (call: grpc.ServerUnaryCall<Req, Req>, cb: grpc.sendUnaryData<Req>) => {
    const f = check("TaskExecWait", call.metadata);
    if (failed(f)) return cb(asError(f));
    let e: ModalExec;
    try {
      e = find(call.request);
    } catch (err) {
      return cb(err as grpc.ServiceError);
    }
    if (e.exit) return cb(null, e.exit);
    const done = () => {
      e.onExit.delete(done);
      cb(null, exitOf(e));
    };
    e.onExit.add(done);
    call.on("cancelled", () => e.onExit.delete(done));
  };
  impl.TaskExecStdioRead = (call: grpc.ServerWritableStream<Req, Req>) => {
    const f = check("TaskExecStdioRead", call.metadata);
    if (failed(f)) return call.destroy(asError(f));
    let e: ModalExec;
    try {
      e = find(call.request);
    } catch (err) {
      return call.destroy(err as grpc.ServiceError);
    }
    const o = e.out[call.request.fileDescriptor === STDIO_STDOUT || call.request.fileDescriptor === undefined ? 0 : 1];
    // Resume at the byte offset the client asks for (it has everything before it).
    let skip = Number(call.request.offset ?? 0);
    let next = 0;
    const pump = () => {
      for (; next < o.chunks.length; next++) {
        const c = o.chunks[next] as Buffer;
        if (skip >= c.length) {
          skip -= c.length;
          continue;
        }
        call.write({ data: c.subarray(skip) });
        skip = 0;
      }
      if (o.ended) {
        o.wake.delete(pump);
        call.end();
      }
    };
    o.wake.add(pump);
    call.on("cancelled", () => o.wake.delete(pump));
    pump();
  };
  server.addService(service as grpc.ServiceDefinition, impl);

  return {
    execs,
    /** The sandbox of `taskId` ended: its processes die with it. */
    kill(taskId: string) {
      for (const e of execs.values()) if (e.taskId === taskId && !e.exit) e.child.kill("SIGKILL");
    },
  };
}
