/**
 * A local server speaking Daytona's REST wire contract, as published in
 * Daytona's OpenAPI document (the generated `@daytona/api-client` that the
 * official SDK uses carries the same paths and models):
 *   POST   /sandbox                          200 Sandbox (state "creating"; polled until "started")
 *   GET    /sandbox/{idOrName}               200 Sandbox | 404
 *   GET    /sandbox?labels={json}            200 {items, nextCursor}
 *   DELETE /sandbox/{idOrName}               200 Sandbox | 404
 *   POST   /sandbox/{idOrName}/autostop/{m}  200
 *   POST   /sandbox/{idOrName}/autodelete/{m} 200
 * Every request needs `Authorization: Bearer <key>`; errors are NestJS-style
 * `{statusCode, message, error}`. Each Sandbox carries the required
 * `toolboxProxyUrl` (`{url}/toolbox`), under which `/toolbox/{id}/process/...`
 * serves the daemon's command sessions (test/fakes/daytona-toolbox.ts): they
 * really run, in a temp directory per sandbox that delete and close remove;
 * `/toolbox/{id}/process/pty/...` serves its terminals (test/fakes/daytona-pty.ts).
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { serveFiles } from "./daytona-files.js";
import { ptyUpgrade, servePtyRest } from "./daytona-pty.js";
import { newToolbox, readBody, removeToolbox, serveToolbox, type Toolbox, type ToolboxOp, toolboxOp } from "./daytona-toolbox.js";
import { faultQueue } from "./faults.js";

export interface DaytonaSandbox {
  id: string;
  labels: Record<string, string>;
  state: "creating" | "starting" | "started" | "error";
  autoStopInterval: number;
  autoDeleteInterval: number;
  createdAt: string;
  /** GETs left before the sandbox reports "started". */
  pollsLeft: number;
  errorReason?: string;
  /** The sandbox's workdir, command sessions and running commands. */
  toolbox: Toolbox;
}

export type DaytonaOp = "create" | "get" | "list" | "delete" | "autostop" | "autodelete" | ToolboxOp;
export type DaytonaFault = { status: number; message?: string } | { hang: true } | { slowMs: number } | { startError: string };

export interface DaytonaFake {
  url: string;
  apiKey: string;
  sandboxes: Map<string, DaytonaSandbox>;
  requests: { method: string; path: string; auth: string | undefined }[];
  fail(op: DaytonaOp, fault: DaytonaFault, times?: number): void;
  close(): Promise<void>;
}

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  404: "Not Found",
  429: "Too Many Requests",
  500: "Internal Server Error",
};

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}
const error = (res: ServerResponse, status: number, message: string) =>
  send(res, status, { statusCode: status, message, error: STATUS_TEXT[status] ?? "Error" });

export async function startDaytonaFake(opts: { apiKey?: string; startPolls?: number } = {}): Promise<DaytonaFake> {
  const apiKey = opts.apiKey ?? `dtn_${randomUUID().replaceAll("-", "")}`;
  const sandboxes = new Map<string, DaytonaSandbox>();
  const faults = faultQueue<DaytonaOp, DaytonaFault>();
  const requests: DaytonaFake["requests"] = [];
  const hanging = new Set<ServerResponse>();
  let url = "";

  const dto = (s: DaytonaSandbox) => ({
    id: s.id,
    organizationId: "org-local",
    name: s.id,
    snapshot: "daytonaio/sandbox:0.4.3",
    user: "daytona",
    env: {},
    labels: s.labels,
    public: false,
    networkBlockAll: false,
    target: "us",
    cpu: 1,
    gpu: 0,
    memory: 1,
    disk: 3,
    state: s.state,
    desiredState: "started",
    ...(s.errorReason ? { errorReason: s.errorReason } : {}),
    autoStopInterval: s.autoStopInterval,
    autoArchiveInterval: 10080,
    autoDeleteInterval: s.autoDeleteInterval,
    createdAt: s.createdAt,
    updatedAt: new Date().toISOString(),
    toolboxProxyUrl: `${url}/toolbox`,
  });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? "/", "http://x");
    const auth = req.headers.authorization;
    requests.push({ method: req.method ?? "", path: u.pathname, auth });
    if (auth !== `Bearer ${apiKey}`) return error(res, 401, "Invalid API key");
    const tb = u.pathname.match(/^\/toolbox\/([^/]+)(\/.*)$/);
    if (tb?.[1] && tb[2]) return toolboxRequest(req, res, decodeURIComponent(tb[1]), tb[2]);
    const m = u.pathname.match(/^\/sandbox(?:\/([^/]+))?(?:\/(autostop|autodelete)\/(-?\d+))?$/);
    if (!m) return error(res, 404, `Cannot ${req.method} ${u.pathname}`);
    const [, rawId, sub, interval] = m;
    const op: DaytonaOp | undefined = !rawId
      ? req.method === "POST"
        ? "create"
        : req.method === "GET"
          ? "list"
          : undefined
      : sub
        ? req.method === "POST"
          ? (sub as DaytonaOp)
          : undefined
        : req.method === "GET"
          ? "get"
          : req.method === "DELETE"
            ? "delete"
            : undefined;
    if (!op) return error(res, 404, `Cannot ${req.method} ${u.pathname}`);
    const fault = faults.take(op);
    if (fault && "status" in fault) return error(res, fault.status, fault.message ?? `injected ${fault.status}`);
    if (fault && "hang" in fault) {
      hanging.add(res);
      return;
    }
    const slow = fault && "slowMs" in fault ? fault.slowMs : 0;
    const later = (fn: () => void) => (slow ? setTimeout(fn, slow) : fn());
    const id = rawId ? decodeURIComponent(rawId) : "";
    const sb = sandboxes.get(id);
    const notFound = () => error(res, 404, `Sandbox with ID or name ${id} not found`);
    switch (op) {
      case "create": {
        const body = await readBody(req);
        const labels = (body.labels ?? {}) as Record<string, string>;
        if (typeof labels !== "object") return error(res, 400, "labels must be an object");
        const newId = randomUUID();
        const created: DaytonaSandbox = {
          id: newId,
          labels,
          state: "creating",
          autoStopInterval: typeof body.autoStopInterval === "number" ? body.autoStopInterval : 15,
          autoDeleteInterval: typeof body.autoDeleteInterval === "number" ? body.autoDeleteInterval : -1,
          createdAt: new Date().toISOString(),
          pollsLeft: opts.startPolls ?? 2,
          ...(fault && "startError" in fault ? { errorReason: fault.startError } : {}),
          toolbox: newToolbox(newId),
        };
        sandboxes.set(created.id, created);
        return later(() => send(res, 200, dto(created)));
      }
      case "get":
        if (!sb) return notFound();
        // Starting takes a few polls, as a real runner does; a start error ends in state "error".
        if (sb.state !== "started" && sb.state !== "error") {
          sb.pollsLeft--;
          sb.state = sb.pollsLeft > 0 ? "starting" : sb.errorReason ? "error" : "started";
        }
        return later(() => send(res, 200, dto(sb)));
      case "list": {
        let want: Record<string, string> = {};
        try {
          want = JSON.parse(u.searchParams.get("labels") ?? "{}") as Record<string, string>;
        } catch {
          return error(res, 400, "labels must be a JSON object");
        }
        const items = [...sandboxes.values()].filter((s) => Object.entries(want).every(([k, v]) => s.labels[k] === v)).map(dto);
        return later(() => send(res, 200, { items, nextCursor: null }));
      }
      case "delete":
        if (!sb) return notFound();
        sandboxes.delete(id);
        removeToolbox(sb.toolbox);
        return later(() => send(res, 200, { ...dto(sb), state: "destroying" }));
      case "autostop":
      case "autodelete":
        if (!sb) return notFound();
        if (op === "autostop") sb.autoStopInterval = Number(interval);
        else sb.autoDeleteInterval = Number(interval);
        return later(() => send(res, 200, {}));
    }
  };

  const toolboxRequest = async (req: IncomingMessage, res: ServerResponse, id: string, path: string) => {
    if (path.startsWith("/files/")) {
      const sb = sandboxes.get(id);
      if (!sb) return error(res, 404, `Sandbox with ID or name ${id} not found`);
      if (sb.state !== "started") return error(res, 400, `Sandbox ${id} is not started`);
      return serveFiles(await sb.toolbox.vm, req, res, path, (status, message) => error(res, status, message));
    }
    if (path.startsWith("/process/pty/")) {
      const sb = sandboxes.get(id);
      if (!sb) return error(res, 404, `Sandbox with ID or name ${id} not found`);
      const reply = (status: number, payload?: unknown) =>
        status >= 400 ? error(res, status, String(payload)) : payload === undefined ? res.writeHead(status).end() : send(res, status, payload);
      if (await servePtyRest(sb.toolbox, await sb.toolbox.vm, req.method, path, await readBody(req), reply)) return;
    }
    const route = toolboxOp(req.method, path);
    if (!route) return error(res, 404, `Cannot ${req.method} ${path}`);
    const fault = faults.take(route.op);
    if (fault && "status" in fault) return error(res, fault.status, fault.message ?? `injected ${fault.status}`);
    const sb = sandboxes.get(id);
    if (!sb) return error(res, 404, `Sandbox with ID or name ${id} not found`);
    if (sb.state !== "started") return error(res, 400, `Sandbox ${id} is not started`);
    const body = await readBody(req);
    await serveToolbox(sb.toolbox, route.op, route.sessionId, body, res, (status, payload) => {
      if (status >= 400) error(res, status, String(payload));
      else if (payload === undefined) res.writeHead(status).end();
      else send(res, status, payload);
    });
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err) => error(res, 500, String(err)));
  });
  // The toolbox's PTY WebSocket (test/fakes/daytona-pty.ts): same key, a started sandbox.
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const u = new URL(req.url ?? "/", "http://x");
    const m = u.pathname.match(/^\/toolbox\/([^/]+)\/process\/pty\/create-connect$/);
    requests.push({ method: "WS", path: u.pathname, auth: req.headers.authorization });
    const sb = m?.[1] ? sandboxes.get(decodeURIComponent(m[1])) : undefined;
    const status =
      req.headers.authorization !== `Bearer ${apiKey}` ? "401 Unauthorized" : !sb ? "404 Not Found" : sb.state !== "started" ? "400 Bad Request" : "";
    if (status || !sb) return socket.end(`HTTP/1.1 ${status} \r\ncontent-length: 0\r\n\r\n`);
    ptyUpgrade(sb.toolbox, req, socket, head, u.searchParams).catch(() => socket.destroy());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    apiKey,
    sandboxes,
    requests,
    fail: (op, fault, times = 1) => faults.add(op, fault, times),
    close: async () => {
      for (const r of hanging) r.destroy();
      for (const sb of sandboxes.values()) removeToolbox(sb.toolbox);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
