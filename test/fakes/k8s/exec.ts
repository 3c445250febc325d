/**
 * `pods/exec` over WebSocket with the Kubernetes channel protocol
 * (v5.channel.k8s.io, v4.channel.k8s.io): every binary message starts with its
 * channel byte, 0 stdin, 1 stdout, 2 stderr, 3 error (the final Status JSON:
 * Success, or Failure with reason NonZeroExitCode and the code as the
 * ExitCode cause), 4 resize; v5 adds 255 <channel> to close one stream
 * (stdin EOF). The command runs for real in the pod's directory, argv as given.
 */
import { spawn } from "node:child_process";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { type WebSocket, WebSocketServer } from "ws";
import { failure } from "./resources.js";

export interface ExecTarget {
  dir: string;
  containers: string[];
}

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const CLOSE = 255;

export class ExecServer {
  private readonly wss: WebSocketServer;
  private readonly sockets = new Set<WebSocket>();
  /** Commands running right now. */
  running = 0;

  constructor(protocols: readonly string[]) {
    this.wss = new WebSocketServer({
      noServer: true,
      // The server picks the newest protocol it speaks among those the client offers.
      handleProtocols: (offered) => protocols.find((p) => offered.has(p)) ?? false,
    });
  }

  /** Upgrade an authorised request for a pod that exists; `target` says where the command runs. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, query: URLSearchParams, target: ExecTarget): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.sockets.add(ws);
      ws.on("close", () => this.sockets.delete(ws));
      this.run(ws, query, target);
    });
  }

  private run(ws: WebSocket, query: URLSearchParams, target: ExecTarget): void {
    const argv = query.getAll("command");
    const frame = (ch: number, data: Buffer | string) => {
      if (ws.readyState !== ws.OPEN) return;
      const body = typeof data === "string" ? Buffer.from(data) : data;
      ws.send(Buffer.concat([Buffer.from([ch]), body]));
    };
    const finish = (status: object) => {
      frame(ERROR, JSON.stringify(status));
      ws.close(1000);
    };
    // As the kubelet does: an empty message on each open channel first.
    for (const ch of [STDOUT, STDERR, ERROR]) frame(ch, Buffer.alloc(0));
    if (!argv.length) {
      finish(failure(500, "InternalError", "you must specify at least 1 command"));
      return;
    }
    const [cmd, ...args] = argv as [string, ...string[]];
    const wantStdin = query.get("stdin") === "true";
    const child = spawn(cmd, args, {
      cwd: target.dir,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: target.dir },
      stdio: [wantStdin ? "pipe" : "ignore", "pipe", "pipe"],
    });
    this.running++;
    child.stdout?.on("data", (d: Buffer) => frame(STDOUT, d));
    child.stderr?.on("data", (d: Buffer) => frame(STDERR, d));
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      const buf = isBinary ? data : Buffer.from(data.toString());
      if (buf[0] === STDIN) child.stdin?.write(buf.subarray(1));
      else if (buf[0] === CLOSE && buf[1] === STDIN) child.stdin?.end();
    });
    // v4 has no close frame: the client closing the socket ends stdin (and the session).
    ws.on("close", () => {
      child.stdin?.end();
      if (child.exitCode === null) child.kill("SIGKILL");
    });
    let spawnError: Error | undefined;
    child.on("error", (e) => {
      spawnError = e;
    });
    child.on("close", (code, signal) => {
      this.running--;
      if (spawnError) {
        return finish(
          failure(
            500,
            "InternalError",
            `failed to exec in container: exec: "${cmd}": ${(spawnError as NodeJS.ErrnoException).code === "ENOENT" ? "executable file not found in $PATH" : spawnError.message}`,
          ),
        );
      }
      const exit = code ?? 128 + (signal === "SIGKILL" ? 9 : 15);
      if (exit === 0) return finish({ metadata: {}, status: "Success" });
      finish({
        metadata: {},
        status: "Failure",
        message: `command terminated with non-zero exit code: error executing command [${argv.join(" ")}], exit code ${exit}`,
        reason: "NonZeroExitCode",
        details: { causes: [{ reason: "ExitCode", message: String(exit) }] },
      });
    });
  }

  close(): void {
    for (const ws of this.sockets) ws.terminate();
    this.wss.close();
  }
}
