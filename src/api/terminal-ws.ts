/**
 * The WebSocket side of GET /v1/sandboxes/{id}/exec. A node `upgrade`
 * request goes through the Hono app like any other (access log, bearer
 * token, rate limit, tenancy, validation: src/api/routes-terminal.ts) with an
 * upgrade slot in its env; only a route that accepted the slot gets the
 * socket upgraded. Anything else (a 404 for another project's sandbox, a 401)
 * is written back as the plain HTTP answer, and nothing has run.
 */
import type { IncomingMessage } from "node:http";
import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import { type WebSocket, WebSocketServer } from "ws";
import type { TerminalSession } from "../broker.js";
import { toSandboxerError } from "../errors.js";
import {
  TERMINAL_MAX_CONTROL_BYTES as MAX_CONTROL_BYTES,
  TERMINAL_MAX_INPUT_FRAME as MAX_INPUT_FRAME,
  TerminalClientMessage as ClientMessage,
  type TerminalServerMessage as ServerMessage,
} from "./schemas.js";

/** Handed to the app in the request's env; the terminal route accepts it once its checks pass. */
export interface UpgradeSlot {
  accept(onOpen: (ws: WebSocket) => void, onAbandon: () => void): void;
}

const TERMINAL_PATH = /^\/v1\/sandboxes\/[^/?]+\/exec(\?|$)/;

export function upgradeSlotOf(env: unknown): UpgradeSlot | undefined {
  return (env as { sbxUpgrade?: UpgradeSlot } | undefined)?.sbxUpgrade;
}

/** Carry one terminal session over one socket until either ends. */
export function bridge(ws: WebSocket, s: TerminalSession, shutdown: AbortSignal): void {
  const send = (m: ServerMessage) => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(m));
  };
  s.onData((d) => {
    if (ws.readyState === ws.OPEN) ws.send(d, { binary: true });
  });
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    if (isBinary) {
      if (data.length <= MAX_INPUT_FRAME) s.write(data);
      return;
    }
    let msg: ReturnType<typeof ClientMessage.safeParse> | undefined;
    try {
      msg = data.length <= MAX_CONTROL_BYTES ? ClientMessage.safeParse(JSON.parse(data.toString())) : undefined;
    } catch {
      msg = undefined;
    }
    if (!msg?.success) {
      send({ type: "error", code: "SBX_USAGE", message: 'control messages are JSON: {"type":"resize","cols":N,"rows":N} (1-1000)' });
      return;
    }
    s.resize({ cols: msg.data.cols, rows: msg.data.rows }).catch(() => {});
  });
  const stop = () => {
    ws.close(1001, "server shutting down");
    s.close();
  };
  shutdown.addEventListener("abort", stop, { once: true });
  ws.on("close", () => s.close());
  ws.on("error", () => s.close());
  s.exited.then(
    (exitCode) => {
      send({ type: "exit", exitCode });
      ws.close(1000);
    },
    (err) => {
      const e = toSandboxerError(err);
      send({ type: "error", code: e.code, message: e.message });
      ws.close(1011);
    },
  );
  s.exited.finally(() => shutdown.removeEventListener("abort", stop)).catch(() => {});
}

type FetchApp = { fetch(req: Request, env?: unknown): Response | Promise<Response> };

function headersOf(req: IncomingMessage): Headers {
  const h = new Headers();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) h.append(req.rawHeaders[i] as string, req.rawHeaders[i + 1] as string);
  return h;
}

function answer(socket: Duplex, res: { status: number; headers: Headers }, body: Buffer): void {
  const lines = [
    `HTTP/1.1 ${res.status} ${STATUS_CODES[res.status] ?? ""}`,
    `Content-Type: ${res.headers.get("content-type") ?? "application/json"}`,
    `Content-Length: ${body.length}`,
    "Connection: close",
  ];
  const reqId = res.headers.get("x-request-id");
  if (reqId) lines.push(`X-Request-Id: ${reqId}`);
  socket.end(Buffer.concat([Buffer.from(`${lines.join("\r\n")}\r\n\r\n`), body]));
}

/** The server's `upgrade` listener: terminal routes through the app, everything else refused. */
export function terminalUpgrades(app: FetchApp): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_INPUT_FRAME });
  return (req, socket, head) => {
    socket.on("error", () => socket.destroy());
    const refuse = (status: number, code: string, message: string) =>
      answer(socket, { status, headers: new Headers() }, Buffer.from(JSON.stringify({ error: { code, message } })));
    if (req.method !== "GET" || !TERMINAL_PATH.test(req.url ?? ""))
      return refuse(404, "SBX_NOT_FOUND", "no WebSocket route here (terminals: GET /v1/sandboxes/{id}/exec)");
    let request: Request;
    try {
      request = new Request(new URL(req.url ?? "/", "http://localhost"), { method: "GET", headers: headersOf(req) });
    } catch {
      return refuse(400, "SBX_USAGE", "malformed upgrade request");
    }
    let accepted: { onOpen: (ws: WebSocket) => void; onAbandon: () => void } | undefined;
    const slot: UpgradeSlot = {
      accept(onOpen, onAbandon) {
        accepted = { onOpen, onAbandon };
      },
    };
    void (async () => {
      const res = await app.fetch(request, { sbxUpgrade: slot });
      if (!accepted) return answer(socket, res, Buffer.from(await res.arrayBuffer()));
      const a = accepted;
      if (socket.destroyed) return a.onAbandon();
      let opened = false;
      socket.once("close", () => {
        if (!opened) a.onAbandon();
      });
      wss.handleUpgrade(req, socket, head, (ws) => {
        opened = true;
        a.onOpen(ws);
      });
    })().catch(() => socket.destroy());
  };
}
