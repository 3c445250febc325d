/**
 * The framework's own speed, for bench/api.bench.ts: a bare Hono app on the
 * same Node adapter answering `GET /v1/sandboxes/:id` with one fixed record
 * (read from the file given as argv[2]). No auth, no store, no log.
 * Prints its URL as one JSON line, like `sandboxer serve --json`.
 */
import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createAdaptorServer } from "@hono/node-server";
import { Hono } from "hono";

const record = JSON.parse(readFileSync(process.argv[2] as string, "utf8")) as { id: string };
const app = new Hono();
app.get("/v1/sandboxes/:id", (c) => (c.req.param("id") === record.id ? c.json(record) : c.json({ error: { code: "SBX_NOT_FOUND" } }, 404)));
const server = createAdaptorServer({ fetch: app.fetch, hostname: "127.0.0.1" }) as Server;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`);
});
process.once("SIGTERM", () => server.close(() => process.exit(0)));
