/**
 * PTY sessions in the Daytona fake's toolbox (the daemon's PTY API, as the
 * SDK's `process.createPty` and the generated toolbox client drive it):
 *   GET (WebSocket) /process/pty/create-connect?id=&cols=&rows=[&cwd=]
 *       subprotocols: `X-Daytona-Pty-Exit-Control` (echoed), `X-Daytona-Pty-Envs~<base64url JSON>`
 *       server -> client: text `{"type":"control","status":"connected"}`, then output as binary
 *       frames, then `{"type":"control","status":"exited","exitCode":N}` and close 1000;
 *       client -> server: keys, binary frames
 *   POST   /process/pty/{sessionId}/resize  {cols, rows}  200 PtySessionInfo
 *   DELETE /process/pty/{sessionId}                         200 (the session's process is killed)
 * The shell is `sh` on a real terminal in the sandbox's VM (util-linux
 * `script`, test/fakes/e2b-pty.ts), so the window size and a resize are the
 * kernel's.
 */
import { readFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import type { Toolbox } from "./daytona-toolbox.js";
import { type FakePty, ptyArgv } from "./e2b-pty.js";
import type { FakeVm } from "./vm.js";

export interface DaytonaPty extends FakePty {
  id: string;
  cols: number;
  rows: number;
  createdAt: string;
}

const EXIT_CONTROL = "X-Daytona-Pty-Exit-Control";
const wss = new WebSocketServer({ noServer: true, handleProtocols: (offered) => (offered.has(EXIT_CONTROL) ? EXIT_CONTROL : false) });

const info = (p: DaytonaPty) => ({
  id: p.id,
  cwd: "/home/daytona",
  envs: {},
  cols: p.cols,
  rows: p.rows,
  createdAt: p.createdAt,
  active: p.child.exitCode === null,
  lazyStart: false,
});

/** A create-connect upgrade for the sandbox's toolbox; answers 400/409 itself when the request is wrong. */
export async function ptyUpgrade(t: Toolbox, req: IncomingMessage, socket: Duplex, head: Buffer, query: URLSearchParams): Promise<void> {
  const id = query.get("id") ?? "";
  const refuse = (status: number, why: string) => {
    socket.end(`HTTP/1.1 ${status} ${why}\r\ncontent-length: 0\r\n\r\n`);
  };
  if (!/^[A-Za-z0-9_.-]{1,100}$/.test(id)) return refuse(400, "Bad Request");
  if (t.ptys.has(id)) return refuse(409, "Conflict");
  const cols = Number(query.get("cols")) || 80;
  const rows = Number(query.get("rows")) || 24;
  let envs: Record<string, string> = {};
  for (const p of String(req.headers["sec-websocket-protocol"] ?? "").split(",")) {
    const m = p.trim().match(/^X-Daytona-Pty-Envs~(.+)$/);
    if (m?.[1]) envs = JSON.parse(Buffer.from(m[1], "base64url").toString()) as Record<string, string>;
  }
  const vm = await t.vm;
  const term = ptyArgv("sh", [], { cols, rows });
  const child = vm.spawn(term.argv, { env: { ...envs, USER: "daytona" }, stdio: ["pipe", "pipe", "pipe"] });
  const pty: DaytonaPty = { id, child, ttyFile: term.ttyFile, cols, rows, createdAt: new Date().toISOString() };
  t.ptys.set(id, pty);
  t.children.add(child);
  child.stdin?.on("error", () => {});
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.send(JSON.stringify({ type: "control", status: "connected" }));
    child.stdout?.on("data", (d: Buffer) => ws.send(d));
    ws.on("message", (d: Buffer, isBinary) => child.stdin?.write(isBinary ? d : d.toString()));
    child.on("close", (code, signal) => {
      t.ptys.delete(id);
      t.children.delete(child);
      ws.send(JSON.stringify({ type: "control", status: "exited", exitCode: code ?? 128 + (signal ? 9 : 1) }));
      ws.close(1000);
    });
  });
}

/** The PTY REST routes under the toolbox; false when the path is none of them. */
export async function servePtyRest(
  t: Toolbox,
  vm: FakeVm,
  method: string | undefined,
  path: string,
  body: Record<string, unknown>,
  reply: (status: number, body?: unknown) => void,
): Promise<boolean> {
  const m = path.match(/^\/process\/pty\/([^/]+)(\/resize)?$/);
  if (!m?.[1] || m[1] === "create-connect") return false;
  const op = m[2] ? (method === "POST" ? "resize" : null) : method === "DELETE" ? "delete" : method === "GET" ? "get" : null;
  if (!op) return false;
  const pty = t.ptys.get(decodeURIComponent(m[1]));
  if (!pty) {
    reply(404, "PTY session not found");
    return true;
  }
  if (op === "resize") {
    const cols = Number(body.cols);
    const rows = Number(body.rows);
    if (!(cols > 0 && rows > 0)) {
      reply(400, "cols and rows must be positive");
      return true;
    }
    // The terminal's size is the kernel's: set it on the tty the shell wrote down (SIGWINCH follows).
    const host = vm.resolve(pty.ttyFile);
    const tty = host ? readFileSync(host, "utf8").trim() : "";
    if (tty) {
      const stty = vm.spawn(["stty", "-F", tty, "cols", String(cols), "rows", String(rows)]);
      await new Promise((r) => stty.on("close", r));
    }
    Object.assign(pty, { cols, rows });
  } else if (op === "delete" && pty.child.pid && pty.child.exitCode === null) {
    process.kill(-pty.child.pid, "SIGKILL");
  }
  reply(200, op === "delete" ? undefined : info(pty));
  return true;
}
