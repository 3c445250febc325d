/**
 * One real API server (127.0.0.1) over a private home whose config grants
 * project p1 one root, offers two Packer templates by name and registers one
 * VM; test profiles open a Packer build and a VM attach to p1. Tokens: adm,
 * p1 (agt), p2 (agt). `call` sends the path bytes as given (no URL
 * normalisation), so `%2e%2e` reaches the server as sent.
 */
import { cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { type RunningServer, startServer } from "../../src/api/server.js";
import type { Broker } from "../../src/broker.js";
import { processesIn } from "../helpers/assert.js";
import { makeHome, type TestHome } from "../helpers/home.js";

const FIX = join(import.meta.dirname, "..", "fixtures", "packer");

export interface Reply {
  status: number;
  body: Record<string, unknown> & { error?: { code: string; message: string } };
  text: string;
}

export interface AttackEnv {
  home: TestHome;
  broker: Broker;
  server: RunningServer;
  /** Scratch outside every root: `outside/secret.txt` is what attacks try to reach. */
  dir: string;
  root: string;
  outside: string;
  templates: { ok: string; secret: string };
  tokens: { adm: string; p1: string; p2: string };
  log: string[];
  call(method: string, path: string, opts?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<Reply>;
  /** Everything a refusal must leave unchanged: records, workspaces and their files, processes under the home, run dirs. */
  footprint(): Promise<string>;
  close(): Promise<void>;
}

const PROFILE_BUILD = {
  id: "profile.t-build",
  version: 1,
  description: "Packer build opened to project p1 (test)",
  extension: "ext.vm-packer",
  mode: "build",
  placement: { hosts: ["localhost"] },
  ttl: { default: "1h", max: "2h" },
  timeout: "2m",
  access: { actors: ["agt", "atm"], projects: ["p1"] },
  inputs: {
    mode: { type: "enum", values: ["build"], default: "build" },
    packer_template: { type: "path", within: "template" },
    vm_name: { type: "name", within: "vm" },
    packer_var_: { type: "string", prefix: true, secret: true },
    packer_var_file: { type: "path", within: "operator" },
  },
};

const PROFILE_ATTACH = {
  id: "profile.t-attach",
  version: 1,
  description: "VM attach opened to every tenant (test)",
  extension: "ext.vm-packer",
  mode: "attach",
  placement: { hosts: ["localhost"] },
  access: { actors: ["agt", "atm"] },
  inputs: {
    mode: { type: "enum", values: ["attach"], default: "attach" },
    vm: { type: "name", within: "vm" },
    repo: { type: "path" },
    workspace_dir: { type: "path", within: "sandbox" },
  },
};

const PROFILE_HOSTNET = {
  id: "profile.t-hostnet",
  version: 1,
  description: "Local sandbox on the host network: operator-level, no access given (test)",
  extension: "ext.local",
  network: "host",
  inputs: { repo: { type: "path" } },
};

/** Files under a directory, as sorted relative paths (symlinks listed, not followed). */
export function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    let names: string[];
    try {
      names = readdirSync(d).sort();
    } catch {
      return;
    }
    for (const n of names) {
      out.push(join(rel, n));
      if (lstatSync(join(d, n)).isDirectory()) walk(join(d, n), join(rel, n));
    }
  };
  walk(dir, "");
  return out;
}

export async function attackEnv(): Promise<AttackEnv> {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), "sbx-attack-")));
  const root = join(dir, "roots", "p1");
  const outside = join(dir, "outside");
  mkdirSync(join(root, "app"), { recursive: true });
  writeFileSync(join(root, "app", "hello.txt"), "hello from p1\n");
  mkdirSync(outside);
  writeFileSync(join(outside, "secret.txt"), "server secret\n");
  symlinkSync(outside, join(root, "link-dir"));
  symlinkSync(join(outside, "secret.txt"), join(root, "app", "link-file"));
  const templates = { ok: join(dir, "templates", "ok"), secret: join(dir, "templates", "secret") };
  cpSync(join(FIX, "ok"), templates.ok, { recursive: true });
  cpSync(join(FIX, "secret"), templates.secret, { recursive: true });
  const profiles = join(dir, "profiles");
  mkdirSync(profiles);
  for (const p of [PROFILE_BUILD, PROFILE_ATTACH, PROFILE_HOSTNET]) writeFileSync(join(profiles, `${p.id}.yaml`), stringify(p));

  const home = makeHome({ SANDBOXER_PROFILES_DIR: profiles });
  writeFileSync(
    home.env.SANDBOXER_CONFIG as string,
    stringify({ projects: { p1: { roots: [root] } }, packerTemplates: { ok: templates.ok, secret: templates.secret } }),
  );
  writeFileSync(join(home.dir, "port-registry.yml"), stringify({ range: [12221, 12230], slots: [{ slot: 1, port: 12221, vm: "registry-vm" }] }));
  const broker = home.broker();
  const log: string[] = [];
  const server = await startServer(broker, { port: 0, rateLimit: 0, accessLog: (l) => log.push(l), eventPollMs: 50 });
  const mint = async (actor: string, project?: string) => (await broker.createToken({ actor, project })).token;
  const tokens = { adm: await mint("adm"), p1: await mint("agt", "p1"), p2: await mint("agt", "p2") };

  const call: AttackEnv["call"] = (method, path, o = {}) =>
    new Promise((resolve, reject) => {
      const body = o.body === undefined ? undefined : JSON.stringify(o.body);
      const req = request(
        {
          host: "127.0.0.1",
          port: server.port,
          method,
          path,
          headers: { Authorization: `Bearer ${o.token ?? tokens.adm}`, ...(body ? { "Content-Type": "application/json" } : {}), ...(o.headers ?? {}) },
        },
        (res) => {
          let text = "";
          res.on("data", (d: Buffer) => {
            text += d.toString();
          });
          res.on("end", () => {
            let parsed: Reply["body"] = {};
            try {
              parsed = JSON.parse(text);
            } catch {
              // not JSON
            }
            resolve({ status: res.statusCode ?? 0, body: parsed, text });
          });
        },
      );
      req.on("error", reject);
      req.end(body);
    });

  const homeDir = join(home.dir, "home");
  return {
    home,
    broker,
    server,
    dir,
    root,
    outside,
    templates,
    tokens,
    log,
    call,
    footprint: async () =>
      JSON.stringify({
        records: (await broker.list({})).map((s) => `${s.id}:${s.state}`),
        workspaces: tree(join(homeDir, "workspaces")),
        run: tree(join(homeDir, "run")),
        processes: processesIn(homeDir).length,
        templates: tree(join(dir, "templates")),
        outside: readFileSync(join(outside, "secret.txt"), "utf8"),
      }),
    async close() {
      await server.close();
      await home.cleanup();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
