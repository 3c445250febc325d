/**
 * A real API server on 127.0.0.1 over a private home whose config sets small
 * session limits (sessionLimits in config.yaml), local (bwrap) sandboxes in
 * projects p1 and p2, and tokens: two agents and an automation of p1, an agent
 * of p2, and two operators. For test/session-limits-*.test.ts.
 */
import { writeFileSync } from "node:fs";
import { stringify } from "yaml";
import WebSocket from "ws";
import { type RunningServer, startServer } from "../../src/api/server.js";
import type { Broker } from "../../src/broker.js";
import type { Sandbox } from "../../src/types.js";
import { makeHome, type TestHome } from "./home.js";

export interface Reply {
  status: number;
  body: { error?: { code: string; message: string } } & Record<string, unknown>;
}

export interface LimitsEnv {
  home: TestHome;
  broker: Broker;
  server: RunningServer;
  tokens: { adm: string; adm2: string; p1a: string; p1b: string; p1c: string; p2: string };
  /** Sandboxes by name: `p1`, `p1b` (project p1), `p2` (project p2). */
  sb: Record<"p1" | "p1b" | "p2", Sandbox>;
  call(method: string, path: string, token: string, body?: unknown): Promise<Reply>;
  /** A command that runs until `release(name)` (a file in the workspace) or its end otherwise. */
  waiter(name: string): string[];
  release(id: string, name: string): Promise<void>;
  close(): Promise<void>;
}

export async function limitsEnv(sessionLimits: Record<string, Record<string, number>>): Promise<LimitsEnv> {
  const home = makeHome();
  writeFileSync(home.env.SANDBOXER_CONFIG as string, stringify({ sessionLimits }));
  const broker = home.broker();
  const mint = async (actor: string, project?: string) => (await broker.createToken({ actor, project })).token;
  const tokens = {
    adm: await mint("adm"),
    adm2: await mint("adm"),
    p1a: await mint("agt", "p1"),
    p1b: await mint("agt", "p1"),
    p1c: await mint("atm", "p1"),
    p2: await mint("agt", "p2"),
  };
  const make = (project: string) => broker.create({ profile: "profile.local", actor: "agt", project });
  const sb = { p1: await make("p1"), p1b: await make("p1"), p2: await make("p2") };
  const server = await startServer(broker, { port: 0, accessLog: () => {}, rateLimit: 0 });
  return {
    home,
    broker,
    server,
    tokens,
    sb,
    async call(method, path, token, body) {
      const res = await fetch(`${server.url}${path}`, {
        method,
        headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : {} };
    },
    waiter: (name) => ["sh", "-c", `while [ ! -e /workspace/go-${name} ]; do sleep 0.1; done; echo done-${name}`],
    async release(id, name) {
      await broker.exec(id, ["touch", `/workspace/go-${name}`], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    },
    async close() {
      await server.close();
      await home.cleanup();
    },
  };
}

/** An open terminal socket, or the HTTP answer that refused the upgrade. */
export interface Term {
  status: number;
  body: Reply["body"];
  ws?: WebSocket;
  /** Settles when the socket closes, with the last control message. */
  closed: Promise<{ type?: string; exitCode?: number; code?: string }>;
}

export function openTerminal(server: RunningServer, id: string, token: string, argv: string[]): Promise<Term> {
  const q = ["tty=1", ...argv.map((a) => `cmd=${encodeURIComponent(a)}`)].join("&");
  const url = `${server.url.replace(/^http/, "ws")}/v1/sandboxes/${id}/exec?${q}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` } });
    let last: { type?: string } = {};
    const closed = new Promise<{ type?: string }>((r) => ws.on("close", () => r(last)));
    ws.on("message", (d: Buffer, binary: boolean) => {
      if (!binary) last = JSON.parse(d.toString());
    });
    ws.on("unexpected-response", (_req, res) => {
      let text = "";
      res.on("data", (d: Buffer) => {
        text += d.toString();
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : {}, closed: Promise.resolve({}) }));
    });
    ws.on("open", () => resolve({ status: 101, body: {}, ws, closed }));
    ws.on("error", reject);
  });
}

/** Ask again while the answer is a session-limit refusal (a slot is given back once its session has ended). */
export async function whenFree<T extends { status: number }>(open: () => Promise<T>, ms = 60_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const r = await open();
    if (r.status !== 429 || Date.now() > until) return r;
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** The refusal every capped open answers with. */
export function expectLimit(r: { status: number; body: Reply["body"] }, field: string, count: number): string {
  if (r.status !== 429 || r.body.error?.code !== "SBX_SESSION_LIMIT")
    throw new Error(`expected a 429 SBX_SESSION_LIMIT, got ${r.status} ${JSON.stringify(r.body)}`);
  const m = r.body.error.message;
  if (!m.includes(field) || !new RegExp(`(holds|runs) ${count} `).test(m)) throw new Error(`the message should name ${field} and the count ${count}: ${m}`);
  return m;
}
