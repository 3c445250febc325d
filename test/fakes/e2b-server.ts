/**
 * A local server speaking E2B's control-plane wire contract, as published in
 * E2B's OpenAPI document (spec/openapi.yml in e2b-dev/E2B; the same types ship
 * in the `e2b` package's index.d.ts):
 *   POST   /v2/sandboxes                   201 Sandbox        (NewSandboxV2 body: templateID, timeout s, metadata)
 *   GET    /v2/sandboxes?metadata=&state=  200 ListedSandbox[] (X-Next-Token on all but the last page)
 *   GET    /sandboxes/{id}                 200 SandboxDetail | 404
 *   DELETE /sandboxes/{id}                 204 | 404
 *   POST   /sandboxes/{id}/timeout         204 | 404         ({timeout} seconds from now)
 *   POST   /v2/sandboxes/{id}/connect      200 Sandbox (201 if it was paused) | 404  ({timeout?} s, default 300; TTL only extended)
 * Every request needs `X-API-Key`; errors are `{code, message}` with the
 * HTTP status as `code`. Faults are injected per operation for tests.
 * Each sandbox also runs a fake envd (test/fakes/e2b-envd.ts) behind `sandboxUrl`,
 * where commands really run; the `envdAccessToken` of create/connect unlocks it.
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { startEnvdFake } from "./e2b-envd.js";
import { faultQueue } from "./faults.js";

export interface E2bSandbox {
  sandboxID: string;
  templateID: string;
  metadata: Record<string, string>;
  startedAt: string;
  endAt: string;
  state: "running" | "paused";
}

export type E2bOp = "create" | "get" | "list" | "kill" | "timeout" | "connect";
/** A status to answer with, or "hang" (never answer: the client's timeout fires), or "slow" (do the work, answer late). */
export type E2bFault = { status: number; message?: string } | { hang: true } | { slowMs: number };

export interface E2bFake {
  url: string;
  /** The sandbox proxy in front of every sandbox's envd (E2B_SANDBOX_URL). */
  sandboxUrl: string;
  apiKey: string;
  sandboxes: Map<string, E2bSandbox>;
  requests: { method: string; path: string; apiKey: string | undefined }[];
  /** Commands running in a sandbox right now (its envd's processes). */
  running(sandboxId: string): number;
  /** Fail the next `times` calls of `op`. */
  fail(op: E2bOp, fault: E2bFault, times?: number): void;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  if (body === undefined) {
    res.writeHead(status, headers).end();
    return;
  }
  res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body));
}

const error = (res: ServerResponse, status: number, message: string) => send(res, status, { code: status, message });

async function readJson(req: IncomingMessage): Promise<unknown> {
  let raw = "";
  for await (const chunk of req) raw += chunk;
  return raw ? JSON.parse(raw) : {};
}

function detail(s: E2bSandbox) {
  return { ...s, clientID: "6532622b", cpuCount: 2, memoryMB: 512, diskSizeMB: 1024, envdVersion: "0.5.7", alias: s.templateID };
}

/** `latencyMs`: added to every answer, to model a real control plane's round trip in benchmarks. */
export async function startE2bFake(opts: { apiKey?: string; latencyMs?: number } = {}): Promise<E2bFake> {
  const apiKey = opts.apiKey ?? `e2b_${randomBytes(12).toString("hex")}`;
  const sandboxes = new Map<string, E2bSandbox>();
  const faults = faultQueue<E2bOp, E2bFault>();
  const requests: E2bFake["requests"] = [];
  const hanging = new Set<ServerResponse>();
  const envd = await startEnvdFake((id) => sandboxes.get(id)?.state === "running");
  const tokens = new Map<string, string>();
  /** The create/connect answer: where and how the SDK reaches the sandbox's envd. */
  const answer = (s: E2bSandbox) => ({
    sandboxID: s.sandboxID,
    templateID: s.templateID,
    clientID: "6532622b",
    envdVersion: "0.5.7",
    envdAccessToken: tokens.get(s.sandboxID),
    domain: null,
  });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://x");
    const key = req.headers["x-api-key"] as string | undefined;
    requests.push({ method: req.method ?? "", path: url.pathname, apiKey: key });
    if (key !== apiKey) return error(res, 401, "Invalid API key, please visit https://e2b.dev/docs/api-key");
    const m = url.pathname.match(/^\/sandboxes\/([^/]+)(\/timeout)?$/) ?? url.pathname.match(/^\/v2\/sandboxes\/([^/]+)(\/connect)$/);
    const op: E2bOp | undefined =
      req.method === "POST" && url.pathname === "/v2/sandboxes"
        ? "create"
        : req.method === "GET" && url.pathname === "/v2/sandboxes"
          ? "list"
          : m && req.method === "GET" && !m[2]
            ? "get"
            : m && req.method === "DELETE" && !m[2]
              ? "kill"
              : m && req.method === "POST" && m[2] === "/timeout"
                ? "timeout"
                : m && req.method === "POST" && m[2] === "/connect"
                  ? "connect"
                  : undefined;
    if (!op) return error(res, 404, `no route ${req.method} ${url.pathname}`);
    const fault = faults.take(op);
    if (fault && "status" in fault) return error(res, fault.status, fault.message ?? `injected ${fault.status}`);
    if (fault && "hang" in fault) {
      hanging.add(res);
      return;
    }
    const slow = fault && "slowMs" in fault ? fault.slowMs : 0;
    const later = (fn: () => void) => (slow ? setTimeout(fn, slow) : fn());
    const id = m ? decodeURIComponent(m[1] ?? "") : "";
    const sb = sandboxes.get(id);
    const notFound = () => error(res, 404, `sandbox "${id}" doesn't exist or you don't have access to it`);
    switch (op) {
      case "create": {
        const body = (await readJson(req)) as { templateID?: unknown; timeout?: unknown; metadata?: unknown };
        if (typeof body.templateID !== "string" || !body.templateID) return error(res, 400, "templateID is required");
        const timeout = typeof body.timeout === "number" ? body.timeout : 15;
        const now = Date.now();
        const created: E2bSandbox = {
          sandboxID: `i${randomBytes(10).toString("hex")}`,
          templateID: body.templateID,
          metadata: (body.metadata as Record<string, string>) ?? {},
          startedAt: new Date(now).toISOString(),
          endAt: new Date(now + timeout * 1000).toISOString(),
          state: "running",
        };
        sandboxes.set(created.sandboxID, created);
        tokens.set(created.sandboxID, envd.add(created.sandboxID).token);
        return later(() => send(res, 201, answer(created)));
      }
      case "list": {
        const want = new URLSearchParams(url.searchParams.get("metadata") ?? "");
        const states = (url.searchParams.get("state") ?? "running,paused").split(",");
        const items = [...sandboxes.values()].filter((s) => states.includes(s.state) && [...want].every(([k, v]) => s.metadata[k] === v));
        return later(() => send(res, 200, items.map(detail)));
      }
      case "get":
        return sb ? later(() => send(res, 200, detail(sb))) : notFound();
      case "kill":
        if (!sb) return notFound();
        sandboxes.delete(id);
        envd.remove(id);
        return later(() => send(res, 204));
      case "timeout": {
        if (!sb) return notFound();
        const body = (await readJson(req)) as { timeout?: unknown };
        if (typeof body.timeout !== "number" || body.timeout < 0) return error(res, 400, "timeout must be a non-negative integer");
        sb.endAt = new Date(Date.now() + body.timeout * 1000).toISOString();
        return later(() => send(res, 204));
      }
      case "connect": {
        if (!sb) return notFound();
        const body = (await readJson(req)) as { timeout?: unknown };
        const until = Date.now() + (typeof body.timeout === "number" ? body.timeout : 300) * 1000;
        if (until > Date.parse(sb.endAt)) sb.endAt = new Date(until).toISOString();
        const resumed = sb.state === "paused";
        sb.state = "running";
        return later(() => send(res, resumed ? 201 : 200, answer(sb)));
      }
    }
  };

  const server: Server = createServer((req, res) => {
    const go = () => handle(req, res).catch((err) => error(res, 500, String(err)));
    if (opts.latencyMs) setTimeout(go, opts.latencyMs);
    else go();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    sandboxUrl: envd.url,
    apiKey,
    sandboxes,
    requests,
    running: (id) => envd.running(id),
    fail: (op, fault, times = 1) => faults.add(op, fault, times),
    close: async () => {
      for (const r of hanging) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await envd.close();
    },
  };
}
