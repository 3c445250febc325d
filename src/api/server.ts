import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createAdaptorServer } from "@hono/node-server";
import type { Broker } from "../broker.js";
import { SandboxerError } from "../errors.js";
import { type ApiOptions, createApp } from "./app.js";
import { terminalUpgrades } from "./terminal-ws.js";

export interface ServeOptions extends ApiOptions {
  /** Default 127.0.0.1: exposing the API beyond loopback is a deliberate choice (docs/security.md). */
  host?: string;
  /** 0 picks a free port. Default 7070. */
  port?: number;
  /** Background work tied to the server's life, e.g. the TTL reaper. */
  background?: { stop(): Promise<void> }[];
}

export interface RunningServer {
  url: string;
  port: number;
  host: string;
  /** Stop accepting, end streams, let background creates clean up, stop the reaper. */
  close(): Promise<void>;
}

/** Start the HTTP API on a real socket; `close()` shuts it down gracefully. */
export async function startServer(broker: Broker, opts: ServeOptions = {}): Promise<RunningServer> {
  const host = opts.host ?? "127.0.0.1";
  const created = createApp(broker, opts);
  const server = createAdaptorServer({ fetch: created.app.fetch, hostname: host }) as Server;
  // Terminals (GET /v1/sandboxes/{id}/exec) are WebSockets: the upgrade goes through the app's checks first.
  server.on("upgrade", terminalUpgrades(created.app));
  // Bounded so a slow client cannot hold a socket forever; SSE streams keep theirs alive with heartbeats.
  server.headersTimeout = 30_000;
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        new SandboxerError("SBX_USAGE", `cannot listen on ${host}:${opts.port ?? 7070}: ${err.code ?? err.message}`, {
          cause: err,
          details: { field: "port" },
        }),
      ),
    );
    server.listen(opts.port ?? 7070, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(":") ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${port}`,
    port,
    host,
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((r) => server.close(() => r()));
        await created.shutdown();
        server.closeIdleConnections();
        // Streams and slow requests get a moment to finish, then their sockets are closed.
        await Promise.race([stopped, new Promise((r) => setTimeout(r, 2000).unref())]);
        server.closeAllConnections();
        await stopped;
        for (const b of opts.background ?? []) await b.stop().catch(() => {});
      })();
      return closing;
    },
  };
}
