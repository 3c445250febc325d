import { SandboxerError } from "../../errors.js";
import { noExtraPositionals, parse } from "../args.js";
import type { CliContext } from "../context.js";

const USAGE = "sandboxer serve [--port N] [--host 127.0.0.1] [--rate-limit N] [--body-limit BYTES] [--no-reaper] [--reaper-interval SECONDS] [--json]";

function intFlag(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) {
    throw new SandboxerError("SBX_USAGE", `--${name}: '${value.slice(0, 20)}' must be a whole number from ${min} to ${max}`, { details: { field: name } });
  }
  return n;
}

/**
 * `sandboxer serve`: the HTTP API and the TTL reaper in one foreground
 * process. Prints where it listens (with --json: one JSON line), then runs
 * until SIGINT/SIGTERM, when it drains requests and lets running creates clean up.
 */
export async function serve(cx: CliContext, argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      port: { type: "string", short: "p" },
      host: { type: "string" },
      "rate-limit": { type: "string" },
      "body-limit": { type: "string" },
      "no-reaper": { type: "boolean" },
      "reaper-interval": { type: "string" },
    },
    USAGE,
  );
  noExtraPositionals(positionals, 0, USAGE);
  if (cx.env.SANDBOXER_URL)
    throw new SandboxerError("SBX_USAGE", "serve runs against the local store; unset SANDBOXER_URL", { details: { field: "SANDBOXER_URL" } });
  const port = intFlag(values.port, "port", 0, 65535) ?? 7070;
  const host = values.host ?? "127.0.0.1";
  if (!/^[A-Za-z0-9.:-]{1,253}$/.test(host))
    throw new SandboxerError("SBX_USAGE", `--host: '${host.slice(0, 40)}' is not an address or host name`, { details: { field: "host" } });
  const rateLimit = intFlag(values["rate-limit"], "rate-limit", 0, 1_000_000);
  const bodyLimit = intFlag(values["body-limit"], "body-limit", 1024, 64 * 1024 * 1024);
  const reaperInterval = intFlag(values["reaper-interval"], "reaper-interval", 1, 86_400);

  const broker = cx.broker();
  const { startServer } = await import("../../api/server.js");
  const background: { stop(): Promise<void> }[] = [];
  const { startPublisher, startReaper } = await import("../../reaper.js");
  if (!values["no-reaper"]) background.push(startReaper(broker, reaperInterval ? { intervalMs: reaperInterval * 1000 } : {}));
  // Every replica publishes the outbox to the State Hub (claims never overlap); idle without a hub.
  background.push(startPublisher(broker));
  const server = await startServer(broker, {
    host,
    port,
    background,
    ...(rateLimit !== undefined ? { rateLimit } : {}),
    ...(bodyLimit !== undefined ? { bodyLimit } : {}),
  });
  const health = await broker.health();
  if (cx.out.json)
    cx.out.print(
      JSON.stringify({
        url: server.url,
        host: server.host,
        port: server.port,
        pid: process.pid,
        reaper: !values["no-reaper"],
        store: health.store,
        replica: health.replica,
      }),
    );
  else cx.out.note(`sandboxer API listening on ${server.url} (docs: ${server.url}/docs; Ctrl-C stops)`);
  if (!["127.0.0.1", "::1", "localhost"].includes(host)) cx.out.note(`warning: listening on ${host}, beyond loopback: put TLS in front (see docs/security.md)`);

  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  if (!cx.out.json) cx.out.note("shutting down: draining requests, cleaning up creates in progress");
  await server.close();
  return 0;
}
