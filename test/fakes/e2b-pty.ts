/**
 * PTYs in the E2B envd fake (envd's process.proto, as the SDK's `sandbox.pty`
 * drives them):
 *   POST /process.Process/Start      with `pty: {size: {cols, rows}}`: the process gets a terminal;
 *                                     its output comes as `{event: {data: {pty: base64}}}`
 *   POST /process.Process/SendInput  unary, application/json {process: {pid}, input: {pty: base64}} -> {}
 *   POST /process.Process/Update     unary, application/json {process: {pid}, pty: {size: {cols, rows}}} -> {}
 *   POST /process.Process/CloseStdin unary, application/json {process: {pid}} -> {} (EOF)
 *   POST /process.Process/SendSignal unary, application/json {process: {pid}, signal: "SIGNAL_SIGKILL"} -> {}
 *        (the SDK's `pty.kill`; served here for terminals and stdin commands only)
 * SendInput with `input.stdin` and CloseStdin serve commands started with `stdin: true` too (the map
 * holds them with no tty file).
 * The terminal is util-linux `script` inside the sandbox's VM; the command
 * first writes its tty's name to a file, so a resize is `stty -F TTY` there
 * (the kernel then signals SIGWINCH, as envd's resize does).
 */
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type { ServerResponse } from "node:http";
import type { FakeVm } from "./vm.js";

export interface FakePty {
  child: ChildProcess;
  /** Inside the VM: where the command wrote its tty's name. */
  ttyFile: string;
}

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/** The argv that runs cmd/args on a fresh terminal of `cols` x `rows` in the VM. */
export function ptyArgv(cmd: string, args: string[], size: { cols?: number; rows?: number }): { argv: string[]; ttyFile: string } {
  const ttyFile = `/tmp/.e2b-pty-${randomBytes(6).toString("hex")}`;
  const cols = Number(size.cols) || 80;
  const rows = Number(size.rows) || 24;
  const inner = `tty > ${ttyFile}; stty cols ${cols} rows ${rows}; exec ${[cmd, ...args].map(quote).join(" ")}`;
  return { argv: ["script", "-qfec", `sh -c ${quote(inner)}`, "/dev/null"], ttyFile };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

/** SendInput and Update for a terminal process; false when the path is neither. */
export async function servePtyUnary(vm: FakeVm, ptys: Map<number, FakePty>, path: string, body: Buffer, res: ServerResponse): Promise<boolean> {
  if (path === "/process.Process/SendSignal") {
    const pid = Number((JSON.parse(body.toString() || "{}") as { process?: { pid?: number } }).process?.pid);
    const pty = ptys.get(pid);
    if (!pty) return false;
    // The terminal's side on this machine dies; its far end in the VM gets the hangup a closing terminal gives.
    if (pty.child.pid && pty.child.exitCode === null) process.kill(-pty.child.pid, "SIGKILL");
    json(res, 200, {});
    return true;
  }
  if (path !== "/process.Process/SendInput" && path !== "/process.Process/Update" && path !== "/process.Process/CloseStdin") return false;
  const msg = JSON.parse(body.toString() || "{}") as {
    process?: { pid?: number };
    input?: { pty?: string; stdin?: string };
    pty?: { size?: { cols?: number; rows?: number } };
  };
  const pty = ptys.get(Number(msg.process?.pid));
  if (!pty) {
    json(res, 404, { code: "not_found", message: `process with pid ${msg.process?.pid} not found` });
    return true;
  }
  if (path === "/process.Process/SendInput") {
    const data = msg.input?.pty ?? msg.input?.stdin;
    if (data) pty.child.stdin?.write(Buffer.from(data, "base64"));
  } else if (path === "/process.Process/CloseStdin") {
    pty.child.stdin?.end();
  } else if (msg.pty?.size && pty.ttyFile) {
    const host = vm.resolve(pty.ttyFile);
    const tty = host ? readFileSync(host, "utf8").trim() : "";
    if (tty) {
      const stty = vm.spawn(["stty", "-F", tty, "cols", String(Number(msg.pty.size.cols) || 80), "rows", String(Number(msg.pty.size.rows) || 24)]);
      await new Promise((r) => stty.on("close", r));
    }
  }
  json(res, 200, {});
  return true;
}
