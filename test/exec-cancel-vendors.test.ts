/**
 * A client that walks away from an exec on a metered vendor (each through its
 * official SDK against its local wire-contract fake, where the command really
 * runs): the API server on 127.0.0.1 sees the disconnect, a second vendor exec
 * kills the command's whole group inside the sandbox, and a later exec finds
 * the process gone.
 */
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type RunningServer, startServer } from "../src/api/server.js";
import type { Broker } from "../src/broker.js";
import type { Sandbox } from "../src/types.js";
import { makeHome, type TestHome } from "./helpers/home.js";
import { VENDORS, vendorProfiles } from "./helpers/vendors.js";

const PIPE = { stdin: "ignore", stdout: "pipe", stderr: "pipe" } as const;

for (const row of VENDORS) {
  describe(`a client leaving an exec on ${row.extension}`, { timeout: 180_000 }, () => {
    let fake: { close(): Promise<void> } | undefined;
    let profiles: { dir: string; name: string } | undefined;
    let home: TestHome | undefined;
    let server: RunningServer | undefined;
    let broker: Broker;
    let token: string;
    let sb: Sandbox;
    beforeAll(async () => {
      const started = await row.start();
      fake = started;
      profiles = vendorProfiles(row.extension);
      home = makeHome({ ...started.env, SANDBOXER_PROFILES_DIR: join(profiles.dir, "profiles") });
      broker = home.broker();
      await broker.addCredits({ account: "p1", amount: 100 });
      token = (await broker.createToken({ actor: "agt", project: "p1" })).token;
      sb = await broker.create({ profile: `profile.files-${profiles.name}`, actor: "agt", project: "p1" });
      server = await startServer(broker, { port: 0, accessLog: () => {}, rateLimit: 0 });
    }, 120_000);
    afterAll(async () => {
      await server?.close();
      await home?.cleanup();
      await fake?.close();
      if (profiles) rmSync(profiles.dir, { recursive: true, force: true });
    });

    it.each([true, false])("stream: %s — the command's group is killed inside the sandbox", async (stream) => {
      const name = `.cancel-${randomBytes(4).toString("hex")}`;
      const leave = new AbortController();
      const res = fetch(`${server?.url}/v1/sandboxes/${sb.id}/exec`, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: JSON.stringify({ command: ["sh", "-c", `echo $$ > ${name}; while :; do sleep 0.2; done`], stream }),
        signal: leave.signal,
      }).then((r) => r.text());
      const pid = await vi.waitFor(
        async () => {
          const r = await broker.exec(sb.id, ["cat", name], PIPE);
          const p = r.stdout?.trim();
          if (r.exitCode !== 0 || !p) throw new Error("not started yet");
          return p;
        },
        { timeout: 60_000, interval: 200 },
      );
      leave.abort();
      await res.catch(() => {});
      const running = async () => (await broker.exec(sb.id, ["sh", "-c", 'kill -0 "$1" 2>/dev/null', "sh", pid], PIPE)).exitCode === 0;
      await vi.waitFor(async () => expect(await running()).toBe(false), { timeout: 60_000, interval: 200 });
      await broker.exec(sb.id, ["rm", "-f", "--", name], PIPE);
    });
  });
}
