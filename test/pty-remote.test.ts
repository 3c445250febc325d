/**
 * Interactive terminals through the API (issue 17): `sandboxer shell` and
 * `sandboxer exec -it` as a remote client (SANDBOXER_URL + SANDBOXER_TOKEN)
 * against a real server on 127.0.0.1, driven under tmux like the local pty
 * test (a prompt, the window size, a resize passed on, the terminal restored).
 * Then the WebSocket route as an attacker meets it: another project's
 * sandbox is the 404 of an unknown id before anything runs, no token is a
 * 401, a plain GET is refused, and bad control messages change nothing.
 */
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { type RunningServer, startServer } from "../src/api/server.js";
import type { Broker } from "../src/broker.js";
import type { Env } from "../src/config.js";
import type { Sandbox } from "../src/types.js";
import { runCli } from "./helpers/cli.js";
import { makeHome, type TestHome } from "./helpers/home.js";
import { drive, hasTmux } from "./helpers/tmux.js";

let home: TestHome;
let broker: Broker;
let server: RunningServer;
let mine: Sandbox;
let theirs: Sandbox;
const tokens = { p1: "", adm: "" };
const remote = (token: string): Env => ({ ...home.env, SANDBOXER_URL: server.url, SANDBOXER_TOKEN: token });
const wsUrl = (id: string, q: string) => `${server.url.replace(/^http/, "ws")}/v1/sandboxes/${id}/exec?${q}`;

/** Open the terminal socket; resolves with what happened before or after the upgrade. */
function connect(
  url: string,
  token: string | null,
  onOpen?: (ws: WebSocket) => void,
): Promise<{ status: number; body: string; output: string; exit?: { type: string; exitCode?: number; code?: string } }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
    let output = "";
    let exit: { type: string; exitCode?: number } | undefined;
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (d: Buffer) => {
        body += d.toString();
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, output }));
    });
    ws.on("open", () => onOpen?.(ws));
    ws.on("message", (d: Buffer, binary: boolean) => {
      if (binary) output += d.toString();
      else exit = JSON.parse(d.toString());
    });
    ws.on("close", () => resolve({ status: 101, body: "", output, ...(exit ? { exit } : {}) }));
    ws.on("error", reject);
  });
}

/** Does this file exist in the sandbox's workspace? Asked through the broker, as the operator. */
async function exists(id: string, path: string): Promise<boolean> {
  const r = await broker.exec(id, ["test", "-e", path], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  return r.exitCode === 0;
}

beforeAll(async () => {
  home = makeHome();
  broker = home.broker();
  tokens.p1 = (await broker.createToken({ actor: "agt", project: "p1" })).token;
  tokens.adm = (await broker.createToken({ actor: "adm" })).token;
  mine = await broker.create({ profile: "profile.local", actor: "agt", project: "p1" });
  theirs = await broker.create({ profile: "profile.local", actor: "agt", project: "p2" });
  server = await startServer(broker, { port: 0, accessLog: () => {}, rateLimit: 0 });
}, 60_000);

afterAll(async () => {
  await server?.close();
  await home?.cleanup();
});

describe.skipIf(!hasTmux)("terminals through SANDBOXER_URL, under tmux", { timeout: 180_000 }, () => {
  it("sandboxer shell: a prompt in the sandbox, the window size, a resize, the terminal restored", async () => {
    await drive({ env: remote(tokens.p1), dir: home.dir }, ["shell", mine.id], /^#\s*$/m, /^back-[23]$/m);
  });

  it("exec -it runs the given command with a terminal", async () => {
    await drive({ env: remote(tokens.p1), dir: home.dir }, ["exec", "-it", mine.id, "--", "sh"], /^#\s*$/m, /^back-[23]$/m);
  });
});

describe("the terminal WebSocket", () => {
  it("runs a command on a pty of the asked size, passes a resize, and ends with its exit code", async () => {
    // The command prints its size for every line it reads and exits 7 on "end" (an interactive dash
    // cannot hand a terminal back from inside the sandbox, so a shell's own exit code is not a test).
    const script = 'stty size; while read line; do stty size; [ "$line" = end ] && exit 7; done';
    let output = "";
    let sent = "";
    const r = await connect(wsUrl(mine.id, `tty=1&cols=90&rows=20&cmd=sh&cmd=-c&cmd=${encodeURIComponent(script)}`), tokens.p1, (ws) => {
      ws.on("message", (d: Buffer, binary: boolean) => {
        if (!binary) return;
        output += d.toString();
        // Step by step on what the screen shows: the first size, then after the resize, then the end.
        if (sent === "" && /^20 90\r?$/m.test(output)) {
          sent = "resize";
          ws.send(JSON.stringify({ type: "resize", cols: 101, rows: 33 }));
          ws.send(Buffer.from("again\r"), { binary: true });
        } else if (sent === "resize" && /^33 101\r?$/m.test(output)) {
          sent = "end";
          ws.send(Buffer.from("end\r"), { binary: true });
        }
      });
    });
    expect(r.status).toBe(101);
    expect(r.output).toMatch(/^20 90\r?$/m);
    expect(r.output).toMatch(/^33 101\r?$/m);
    expect(r.exit).toEqual({ type: "exit", exitCode: 7 });
  }, 60_000);

  it("another project's sandbox is the 404 of an unknown id, and nothing runs in it", async () => {
    const cmd = `tty=1&cmd=touch&cmd=${encodeURIComponent("/workspace/pwned")}`;
    const theirsRes = await connect(wsUrl(theirs.id, cmd), tokens.p1);
    const unknown = await connect(wsUrl("sbx-aaaaaaaaaaaa", cmd), tokens.p1);
    expect(theirsRes.status).toBe(404);
    expect(JSON.parse(theirsRes.body).error.code).toBe("SBX_NOT_FOUND");
    expect(theirsRes.body.replace(theirs.id, "ID")).toBe(unknown.body.replace("sbx-aaaaaaaaaaaa", "ID"));
    // The CLI says the same, exit 3.
    const cli = await runCli(["exec", "-it", theirs.id, "--", "touch", "/workspace/pwned"], remote(tokens.p1));
    expect(cli.code).toBe(3);
    expect(cli.stderr).toContain("SBX_NOT_FOUND");
    expect(await exists(theirs.id, "/workspace/pwned")).toBe(false);
    // The operator may open it (and the same command does run then).
    const adm = await connect(wsUrl(theirs.id, cmd), tokens.adm);
    expect(adm.exit).toEqual({ type: "exit", exitCode: 0 });
    expect(await exists(theirs.id, "/workspace/pwned")).toBe(true);
  }, 60_000);

  it("no token is a 401, a plain GET a 400, bad parameters a 400, a pool-less bad service a 400; nothing runs", async () => {
    const marker = `tty=1&cmd=touch&cmd=${encodeURIComponent("/workspace/marker")}`;
    expect((await connect(wsUrl(mine.id, marker), null)).status).toBe(401);
    expect((await connect(wsUrl(mine.id, marker), "sbx_tok-forged")).status).toBe(401);
    // No other route upgrades.
    expect((await connect(`${server.url.replace(/^http/, "ws")}/v1/sandboxes`, tokens.p1)).status).toBe(404);
    const plain = await fetch(`${server.url}/v1/sandboxes/${mine.id}/exec?${marker}`, { headers: { Authorization: `Bearer ${tokens.p1}` } });
    expect(plain.status).toBe(400);
    expect(((await plain.json()) as { error: { message: string } }).error.message).toContain("WebSocket");
    for (const q of [`${marker}&cols=0`, `${marker}&rows=5000`, marker.replace("tty=1", "tty=0"), `${marker}&service=web`, `${marker}&colour=red`]) {
      const r = await connect(wsUrl(mine.id, q), tokens.p1);
      expect(r.status, q).toBeGreaterThanOrEqual(400);
      expect(r.status, q).toBeLessThan(500);
    }
    expect(await exists(mine.id, "/workspace/marker")).toBe(false);
  }, 60_000);

  it("a control message that is not a resize is answered with an error and changes nothing; the session goes on", async () => {
    const texts: string[] = [];
    const r = await connect(
      wsUrl(mine.id, `tty=1&cols=80&rows=24&cmd=sh&cmd=-c&cmd=${encodeURIComponent("read line; stty size; exit 5")}`),
      tokens.p1,
      (ws) => {
        ws.on("message", (d: Buffer, binary: boolean) => {
          if (!binary) texts.push(d.toString());
        });
        ws.send(JSON.stringify({ type: "resize", cols: 0, rows: 99999 }));
        ws.send("not json");
        ws.send(JSON.stringify({ type: "exec", cmd: ["rm", "-rf", "/"] }));
        setTimeout(() => ws.send(Buffer.from("go\r"), { binary: true }), 300);
      },
    );
    expect(texts.filter((t) => t.includes('"error"'))).toHaveLength(3);
    expect(r.output).toMatch(/^24 80\r?$/m);
    expect(r.exit).toEqual({ type: "exit", exitCode: 5 });
  }, 60_000);

  it("closing the socket hangs the terminal up: the command does not outlive it", async () => {
    const before = spawnSync("pgrep", ["-f", "sleep 4242"]).stdout.toString().trim();
    expect(before).toBe("");
    await connect(wsUrl(mine.id, "tty=1&cmd=sh"), tokens.p1, (ws) => {
      ws.send(Buffer.from("sleep 4242\r"), { binary: true });
      setTimeout(() => ws.close(), 500);
    });
    const end = Date.now() + 10_000;
    let left = "x";
    while (left && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 100));
      left = spawnSync("pgrep", ["-f", "sleep 4242"]).stdout.toString().trim();
    }
    expect(left).toBe("");
  }, 30_000);
});
