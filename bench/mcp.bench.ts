/**
 * MCP benchmark (issue 17): one `exec_command` of `true` through `/mcp` vs the
 * same command through `POST /v1/sandboxes/{id}/exec`, on one `sandboxer
 * serve` process (as deployed) and one ext.local sandbox. Both sides use
 * fetch over loopback keep-alive (the MCP client SDK's transport is fetch), one
 * call at a time, alternating in rounds so drifting machine load hits both
 * alike. The MCP side runs both protocol eras: the 2025 handshake (what most
 * clients speak) and the 2026-07-28 revision. Target: MCP <= 1.3x the API.
 * Prints figures; asserts nothing.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { createBroker } from "../src/broker.js";
import { removeTree } from "../test/helpers/home.js";

const N = Number(process.env.BENCH_N ?? 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const root = mkdtempSync(join(tmpdir(), "sbx-mcpbench-"));
const env = { ...process.env, SANDBOXER_HOME: join(root, "home"), SANDBOXER_CONFIG: join(root, "none.yaml"), SANDBOXER_STATE_HUB_URL: "", SANDBOXER_URL: "" };
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? Number.NaN;

async function startServe(): Promise<{ url: string; child: ChildProcess }> {
  // From source (tsx), not dist/: a concurrent rebuild of dist/ must not break the run.
  const cli = join(import.meta.dirname, "..", "src", "cli", "main.ts");
  const child = spawn(process.execPath, ["--import", "tsx", cli, "serve", "--port", "0", "--json", "--no-reaper", "--rate-limit", "0"], {
    env,
    stdio: ["ignore", "pipe", "ignore"],
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`serve exited ${code}`)));
  });
  return { url: (JSON.parse(line) as { url: string }).url, child };
}

async function mcpClient(url: string, token: string, modern: boolean): Promise<Client> {
  const client = new Client({ name: "bench", version: "1" }, modern ? { versionNegotiation: { mode: "auto" } } : {});
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
  await client.listTools();
  return client;
}

async function main(): Promise<void> {
  const minter = createBroker({ env });
  const { token } = await minter.createToken({ actor: "agt", project: "bench" });
  await minter.close();
  const { url, child } = await startServe();
  const headers = { Authorization: `Bearer ${token}`, "Content-Type": "application/json" };
  try {
    const created = await fetch(`${url}/v1/sandboxes`, { method: "POST", headers, body: JSON.stringify({ profile: "profile.local" }) });
    const id = ((await created.json()) as { id: string }).id;
    const api = async () => {
      const r = await fetch(`${url}/v1/sandboxes/${id}/exec`, { method: "POST", headers, body: JSON.stringify({ command: ["true"] }) });
      const body = (await r.json()) as { exitCode: number };
      if (body.exitCode !== 0) throw new Error(`exec: ${JSON.stringify(body)}`);
    };
    const legacy = await mcpClient(url, token, false);
    const modern = await mcpClient(url, token, true);
    const viaMcp = (c: Client) => async () => {
      const r = await c.callTool({ name: "exec_command", arguments: { id, argv: ["true"] } });
      if (r.isError || (r.structuredContent as { exitCode: number }).exitCode !== 0) throw new Error(`exec_command: ${JSON.stringify(r)}`);
    };
    const sides: [string, () => Promise<void>][] = [
      ["api", api],
      ["mcp2025", viaMcp(legacy)],
      ["mcp2026", viaMcp(modern)],
    ];
    const lat: Record<string, number[]> = { api: [], mcp2025: [], mcp2026: [] };
    // Warm up every path (JIT, sockets, the sandbox's page cache).
    for (const [, fn] of sides) for (let i = 0; i < 10; i++) await fn();
    const per = Math.max(1, Math.floor(N / ROUNDS));
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, fn] of sides) {
        for (let i = 0; i < per; i++) {
          const t0 = process.hrtime.bigint();
          await fn();
          lat[name]?.push(ms(t0));
        }
      }
    }
    await legacy.close();
    await modern.close();
    await fetch(`${url}/v1/sandboxes/${id}`, { method: "DELETE", headers });

    const a = median(lat.api ?? []);
    const res = {
      calls: per * ROUNDS,
      apiMs: a,
      apiP99Ms: pct(lat.api ?? [], 0.99),
      mcp2025Ms: median(lat.mcp2025 ?? []),
      mcp2025P99Ms: pct(lat.mcp2025 ?? [], 0.99),
      mcp2026Ms: median(lat.mcp2026 ?? []),
      mcp2026P99Ms: pct(lat.mcp2026 ?? [], 0.99),
      ratio2025: median(lat.mcp2025 ?? []) / a,
      ratio2026: median(lat.mcp2026 ?? []) / a,
    };
    const f = (x: number) => x.toFixed(2);
    console.log(`exec 'true', ${res.calls} calls each, one at a time, medians (p99)`);
    console.log(`  POST /v1/sandboxes/{id}/exec              ${f(res.apiMs)} ms (${f(res.apiP99Ms)})`);
    console.log(`  MCP exec_command, 2025 handshake           ${f(res.mcp2025Ms)} ms (${f(res.mcp2025P99Ms)})  ${f(res.ratio2025)}x (target <= 1.3)`);
    console.log(`  MCP exec_command, 2026-07-28 revision      ${f(res.mcp2026Ms)} ms (${f(res.mcp2026P99Ms)})  ${f(res.ratio2026)}x (target <= 1.3)`);
    if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, JSON.stringify(res, null, 2));
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
    const cleanup = createBroker({ env });
    for (const sb of await cleanup.list({ states: ["ready", "failed", "destroy_failed"] })) await cleanup.destroy(sb.id).catch(() => {});
    await cleanup.close();
  }
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => removeTree(root));
