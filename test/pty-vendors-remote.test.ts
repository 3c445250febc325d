/**
 * Vendor terminals through the server (issue 17): the terminal WebSocket
 * (`GET /v1/sandboxes/{id}/exec?tty=1`, what `sandboxer shell` uses with
 * SANDBOXER_URL) opens the vendor's own PTY API on the server's side (E2B's
 * envd, Daytona's toolbox, Modal's exec with `pty`), each SDK against its
 * local wire-contract fake whose terminals are real ones in the sandbox's VM.
 * Under tmux as a remote CLI, then the socket itself: the asked size, a resize
 * passed on (not on Modal: its SDK cannot), the exit code; closing the socket
 * ends the session at the vendor; another project's sandbox is the 404 of an
 * unknown id and nothing runs in it.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { type RunningServer, startServer } from "../src/api/server.js";
import type { Broker } from "../src/broker.js";
import type { Env } from "../src/config.js";
import type { Sandbox } from "../src/types.js";
import { makeHome, type TestHome } from "./helpers/home.js";
import { drive, hasTmux } from "./helpers/tmux.js";
import { VENDORS, vendorProfiles } from "./helpers/vendors.js";

type Outcome = { status: number; body: string; output: string; exit?: { type: string; exitCode?: number } };

/** Open the terminal socket; `step` sees the output so far and may send. */
function connect(url: string, token: string, step?: (ws: WebSocket, output: string) => void): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` } });
    let output = "";
    let exit: Outcome["exit"];
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (d: Buffer) => {
        body += d.toString();
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, output }));
    });
    ws.on("message", (d: Buffer, binary: boolean) => {
      if (!binary) exit = JSON.parse(d.toString());
      else {
        output += d.toString();
        step?.(ws, output);
      }
    });
    ws.on("close", () => resolve({ status: 101, body: "", output, ...(exit ? { exit } : {}) }));
    ws.on("error", reject);
  });
}

for (const row of VENDORS) {
  const resize = row.extension !== "ext.modal";
  describe(`terminals on ${row.extension} through the server`, { timeout: 180_000 }, () => {
    let home: TestHome;
    let broker: Broker;
    let server: RunningServer;
    let fake: { close(): Promise<void> };
    let profiles: { dir: string; name: string };
    let mine: Sandbox;
    let theirs: Sandbox;
    const tokens = { p1: "" };
    const remote = (): Env => ({ ...home.env, SANDBOXER_URL: server.url, SANDBOXER_TOKEN: tokens.p1 });
    const wsUrl = (id: string, q: string) => `${server.url.replace(/^http/, "ws")}/v1/sandboxes/${id}/exec?${q}`;
    const exists = async (id: string, path: string) =>
      (await broker.exec(id, ["test", "-e", path], { stdin: "ignore", stdout: "pipe", stderr: "pipe" })).exitCode === 0;

    beforeAll(async () => {
      const started = await row.start();
      fake = started;
      profiles = vendorProfiles(row.extension);
      home = makeHome({ ...started.env, SANDBOXER_PROFILES_DIR: join(profiles.dir, "profiles") });
      broker = home.broker();
      for (const account of ["p1", "p2"]) await broker.addCredits({ account, amount: 100 });
      tokens.p1 = (await broker.createToken({ actor: "agt", project: "p1" })).token;
      mine = await broker.create({ profile: `profile.files-${profiles.name}`, actor: "agt", project: "p1" });
      theirs = await broker.create({ profile: `profile.files-${profiles.name}`, actor: "agt", project: "p2" });
      server = await startServer(broker, { port: 0, accessLog: () => {}, rateLimit: 0 });
    }, 120_000);
    afterAll(async () => {
      await server?.close();
      await home?.cleanup();
      await fake?.close();
      if (profiles) rmSync(profiles.dir, { recursive: true, force: true });
    });

    it.skipIf(!hasTmux)("sandboxer shell through SANDBOXER_URL: a prompt, the window size, a resize, the exit code, the terminal restored", async () => {
      await drive({ env: remote(), dir: home.dir }, ["shell", mine.id], /^#\s*$/m, undefined, { resize });
    });

    it("the socket: a terminal of the asked size, a resize passed on, the command's exit code", async () => {
      const script = 'stty size; while read line; do stty size; [ "$line" = end ] && exit 7; done';
      let sent = "";
      const r = await connect(wsUrl(mine.id, `tty=1&cols=90&rows=20&cmd=sh&cmd=-c&cmd=${encodeURIComponent(script)}`), tokens.p1, (ws, output) => {
        if (sent === "" && /^20 90\r?$/m.test(output)) {
          sent = resize ? "resize" : "end";
          if (resize) ws.send(JSON.stringify({ type: "resize", cols: 101, rows: 33 }));
          ws.send(Buffer.from(resize ? "again\r" : "end\r"), { binary: true });
        } else if (sent === "resize" && /^33 101\r?$/m.test(output)) {
          sent = "end";
          ws.send(Buffer.from("end\r"), { binary: true });
        }
      });
      expect(r.status).toBe(101);
      expect(r.output).toMatch(/^20 90\r?$/m);
      if (resize) expect(r.output).toMatch(/^33 101\r?$/m);
      expect(r.exit).toEqual({ type: "exit", exitCode: 7 });
    });

    it("closing the socket ends the session at the vendor: nothing is left running", async () => {
      const running = async () =>
        (
          await broker.exec(mine.id, ["sh", "-c", "ps -eo args | grep -c '^sleep 3001' || true"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" })
        ).stdout?.trim();
      const r = await connect(wsUrl(mine.id, `tty=1&cmd=sh&cmd=-c&cmd=${encodeURIComponent("echo READY; exec sleep 3001")}`), tokens.p1, (ws, output) => {
        if (/READY/.test(output)) ws.close();
      });
      expect(r.output).toContain("READY");
      // The vendor ends it after the socket closed: wait (bounded) for the process to go.
      let left = await running();
      for (let i = 0; i < 100 && left !== "0"; i++) {
        await new Promise((ok) => setTimeout(ok, 200));
        left = await running();
      }
      expect(left).toBe("0");
    });

    it("another project's sandbox is the 404 of an unknown id, and nothing runs in it", async () => {
      const cmd = "tty=1&cmd=touch&cmd=pwned";
      const theirsRes = await connect(wsUrl(theirs.id, cmd), tokens.p1);
      const unknown = await connect(wsUrl("sbx-aaaaaaaaaaaa", cmd), tokens.p1);
      expect(theirsRes.status).toBe(404);
      expect(theirsRes.body.replace(theirs.id, "ID")).toBe(unknown.body.replace("sbx-aaaaaaaaaaaa", "ID"));
      expect(await exists(theirs.id, "pwned")).toBe(false);
    });
  });
}
