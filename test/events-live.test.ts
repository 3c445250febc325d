/**
 * A long build's progress reaches the State Hub DURING the build: the
 * creating process delivers events as they are written. The hub here is a
 * real HTTP server on loopback that records when each event arrives; the
 * build (Debian's real packer) waits until the hub has seen its
 * "waiting-for-hub" note, so it can only finish "hub-confirmed" if delivery
 * happened while it ran. A hub that never answers, or none listening, never
 * holds the build up.
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { LiveDelivery } from "../src/events/live.js";
import type { Sandbox, SandboxEvent } from "../src/types.js";
import { processesIn } from "./helpers/assert.js";
import { runCli } from "./helpers/cli.js";
import { makeHome, type TestHome } from "./helpers/home.js";

const FIX = join(import.meta.dirname, "fixtures", "packer");

interface Arrival {
  at: number;
  event: SandboxEvent;
}

/** A hub that records arrival times; `onEvent` sees each event as it lands; `hang` never answers. */
function startHub(opts: { onEvent?: (e: SandboxEvent) => void; hang?: boolean } = {}): Promise<{ server: Server; url: string; got: Arrival[] }> {
  const got: Arrival[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => {
      body += d;
    });
    req.on("end", () => {
      if (opts.hang) return;
      const event = JSON.parse(body) as SandboxEvent;
      got.push({ at: Date.now(), event });
      opts.onEvent?.(event);
      res.writeHead(201).end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`, got })),
  );
}

let home: TestHome;
let work: string;
const servers: Server[] = [];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "sbx-live-"));
  home = makeHome();
});
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});
afterAll(async () => {
  await home?.cleanup();
  for (const pid of processesIn(work)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  rmSync(work, { recursive: true, force: true });
});

function template(): string {
  const dir = mkdtempSync(join(work, "hub-"));
  cpSync(join(FIX, "hub"), dir, { recursive: true });
  return dir;
}

const message = (e: SandboxEvent) => String(e.data.message ?? "");

describe("progress reaches the State Hub while a packer build runs", () => {
  it("the build's note arrives before the build ends (the build waits for the hub to have it)", { timeout: 120_000 }, async () => {
    const flag = join(work, "hub-saw-it");
    const hub = await startHub({
      onEvent: (e) => {
        if (message(e).includes("waiting-for-hub")) writeFileSync(flag, "1");
      },
    });
    servers.push(hub.server);
    const env = { ...home.env, SANDBOXER_STATE_HUB_URL: hub.url };
    const r = await runCli(
      ["create", "--profile", "profile.vm-packer-build", "--input", `packer_template=${template()}`, "--input", `packer_var_flag=${flag}`, "--json"],
      env,
      { timeoutMs: 110_000 },
    );
    const exited = Date.now();
    expect(r.code, r.stderr).toBe(0);
    const sb = r.json<Sandbox>();
    const mine = hub.got.filter((a) => a.event.sandboxId === sb.id);
    const waiting = mine.find((a) => message(a.event).includes("waiting-for-hub"));
    const confirmed = mine.find((a) => message(a.event).includes("hub-confirmed"));
    const ready = mine.find((a) => a.event.type === "sandbox.ready");
    // The build saw the hub's flag: delivery happened during the build, not at exit.
    expect(confirmed, mine.map((a) => message(a.event) || a.event.type).join(" | ")).toBeDefined();
    expect(waiting && ready).toBeTruthy();
    expect((waiting as Arrival).at).toBeLessThan((ready as Arrival).at);
    expect((waiting as Arrival).at).toBeLessThan(exited);
    // In outbox order, each once.
    const seqs = mine.map((a) => a.event.id);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(mine.map((a) => a.event.type).filter((t) => t !== "sandbox.progress")).toEqual(["sandbox.requested", "sandbox.provisioning", "sandbox.ready"]);
    await runCli(["destroy", sb.id], env);
  });

  it("a hub that never answers, or is not there, never holds the build up; its events wait in the outbox", { timeout: 180_000 }, async () => {
    const hung = await startHub({ hang: true });
    servers.push(hung.server);
    for (const url of [hung.url, "http://127.0.0.1:9/events"]) {
      const flag = join(work, `flag-${servers.length}-${url.length}`);
      writeFileSync(flag, "1"); // the build need not wait here
      const env = { ...home.env, SANDBOXER_STATE_HUB_URL: url };
      const r = await runCli(
        ["create", "--profile", "profile.vm-packer-build", "--input", `packer_template=${template()}`, "--input", `packer_var_flag=${flag}`, "--json"],
        env,
        { timeoutMs: 110_000 },
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.json<Sandbox>().state).toBe("ready");
      const stats = await runCli(["events", "flush", "--budget", "1", "--json"], env);
      expect(stats.json<{ pending: number }>().pending).toBeGreaterThan(0);
      await runCli(["destroy", r.json<Sandbox>().id], { ...home.env });
    }
  });
});

describe("LiveDelivery (unit)", () => {
  it("coalesces a burst into few runs, one at a time, and never throws", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let calls = 0;
    const live = new LiveDelivery({
      gapMs: 20,
      deliver: async () => {
        calls++;
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((r) => setTimeout(r, 30));
        inFlight--;
        if (calls === 2) throw new Error("hub exploded");
        return { delivered: 1, failed: 0, pending: 0, lastError: null };
      },
    });
    for (let i = 0; i < 100; i++) live.kick();
    await new Promise((r) => setTimeout(r, 10));
    for (let i = 0; i < 100; i++) live.kick();
    await live.idle(5000);
    expect(maxInFlight).toBe(1);
    expect(calls).toBeGreaterThanOrEqual(1);
    expect(calls).toBeLessThanOrEqual(3);
    await live.stop(1000);
    live.kick();
    await new Promise((r) => setTimeout(r, 60));
    const after = calls;
    await new Promise((r) => setTimeout(r, 60));
    expect(calls).toBe(after);
  });
});
