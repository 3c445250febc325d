/**
 * `sandboxer credits ... --pool` through the remote client: a real `sandboxer
 * serve` on 127.0.0.1 (with its reaper keeping a metered pool filled) and the
 * CLI with SANDBOXER_URL + SANDBOXER_TOKEN. An operator reads and tops up the
 * pool account (`_pool`) remotely; a tenant token never reads it (404), not
 * even when a profile's `access` admits the tenant and it has claimed a
 * member of that profile's pool, and never reads another project's account.
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Env } from "../src/config.js";
import type { Account, LedgerEntry } from "../src/credits/index.js";
import type { Sandbox } from "../src/types.js";
import { makeHome, type TestHome } from "./helpers/home.js";
import { buildPrivateCli, type PrivateCli } from "./helpers/private-cli.js";

let home: TestHome;
let cli: PrivateCli;
let server: ChildProcess | undefined;
let serverExit: Promise<unknown>;
let url = "";
const tokens = { adm: "", p1: "" };
const remote = (token: string): Env => ({ ...home.env, SANDBOXER_URL: url, SANDBOXER_TOKEN: token });
const run = (args: string[], env: Env) => cli.run(args, env, { timeoutMs: 60_000 });
const errorOf = (stderr: string) => (JSON.parse(stderr) as { error: { code: string; message: string } }).error;

beforeAll(async () => {
  cli = await buildPrivateCli();
  home = makeHome({ SANDBOXER_SAAS_STUB_DELAY_MS: "100" });
  const dir = join(home.dir, "profiles");
  mkdirSync(dir, { recursive: true });
  // A metered pool whose profile's access admits p1: the strongest case for a tenant to want the pool's figures.
  writeFileSync(
    join(dir, "profile.metered-pool.yaml"),
    "id: profile.metered-pool\nversion: 1\nextension: ext.saas-stub\nplacement: { hosts: [localhost] }\nttl: { default: 1h, max: 4h }\naccess: { projects: [p1] }\npool: { size: 1, maxIdle: 1h }\n",
  );
  home.env.SANDBOXER_PROFILES_DIR = dir;
  const mint = async (...args: string[]) => (await run(["tokens", "create", ...args, "--json"], home.env)).json<{ token: string }>().token;
  tokens.adm = await mint("--actor", "adm");
  tokens.p1 = await mint("--actor", "agt", "--project", "p1");
  server = cli.spawn(["serve", "--port", "0", "--json", "--reaper-interval", "1"], home.env);
  serverExit = new Promise((r) => server?.on("exit", r));
  const first = await new Promise<string>((resolve, reject) => {
    createInterface({ input: server?.stdout as NodeJS.ReadableStream }).once("line", resolve);
    server?.once("exit", (code) => reject(new Error(`serve exited ${code}`)));
  });
  url = (JSON.parse(first) as { url: string }).url;
}, 120_000);

afterAll(async () => {
  if (server && server.exitCode === null) {
    server.kill("SIGTERM");
    await serverExit;
  }
  await home?.cleanup();
  cli?.cleanup();
});

describe("credits --pool through the remote client", () => {
  it("an operator tops up, reads and lists the pool account remotely", async () => {
    const add = await run(["credits", "add", "5", "--pool", "--note", "idle budget", "--json"], remote(tokens.adm));
    expect(add.code, add.stderr).toBe(0);
    expect(add.json<Account>()).toMatchObject({ account: "_pool", balance: 5 });
    const show = await run(["credits", "show", "--pool", "--json"], remote(tokens.adm));
    expect(show.json<Account>()).toMatchObject({ account: "_pool", balance: 5 });
    const hist = await run(["credits", "history", "--pool", "--json"], remote(tokens.adm));
    expect(hist.code, hist.stderr).toBe(0);
    const entries = hist.json<LedgerEntry[]>();
    expect(entries.map((e) => e.kind)).toContain("add");
    expect(new Set(entries.map((e) => e.account))).toEqual(new Set(["_pool"]));
    expect((await run(["credits", "show"], remote(tokens.adm))).stdout).toMatch(/^_pool\s+5\s/m);
    // The same through the local store, for comparison: one ledger.
    expect((await run(["credits", "show", "--pool", "--json"], home.env)).json<Account>()).toMatchObject({ account: "_pool", balance: 5 });
  });

  it("a tenant whose profile access admits it, and which claimed from the pool, still cannot read or top up the pool account", async () => {
    expect((await run(["credits", "add", "10", "--project", "p1"], remote(tokens.adm))).code).toBe(0);
    expect((await run(["credits", "add", "7", "--project", "p2"], remote(tokens.adm))).code).toBe(0);
    // The server's reaper fills the pool; the tenant's create claims the member.
    const end = Date.now() + 60_000;
    for (;;) {
      const pools = (await run(["pools", "list", "--json"], remote(tokens.adm))).json<{ key: string; ready: number }[]>();
      if (pools.find((p) => p.key === "profile.metered-pool")?.ready === 1) break;
      if (Date.now() > end) throw new Error(`pool never filled: ${JSON.stringify(pools)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const made = await run(["create", "--profile", "profile.metered-pool", "--json"], remote(tokens.p1));
    expect(made.code, made.stderr).toBe(0);
    expect(made.json<Sandbox>().route?.pool?.served).toBe(true);

    for (const args of [
      ["credits", "show", "--pool", "--json"],
      ["credits", "history", "--pool", "--json"],
      ["credits", "export", "--since", "2020-01-01", "--pool", "--json"],
    ]) {
      const r = await run(args, remote(tokens.p1));
      expect(r.code, `${args.join(" ")}: ${r.stdout}`).toBe(3);
      expect(errorOf(r.stderr)).toMatchObject({ code: "SBX_NOT_FOUND", message: expect.stringContaining("_pool") });
      expect(r.stdout).toBe("");
    }
    const add = await run(["credits", "add", "1", "--pool", "--json"], remote(tokens.p1));
    expect(add.code).toBe(4);
    expect(errorOf(add.stderr).code).toBe("SBX_FORBIDDEN");
    // The raw API answers the same.
    for (const path of ["/v1/credits?project=_pool", "/v1/credits/history?project=_pool"]) {
      const r = await fetch(`${url}${path}`, { headers: { Authorization: `Bearer ${tokens.p1}` } });
      expect(r.status, path).toBe(404);
    }
    // Nothing changed on the pool account; the tenant's own figures are its claim's hold only.
    expect((await run(["credits", "show", "--pool", "--json"], remote(tokens.adm))).json<Account>()).toMatchObject({ account: "_pool" });
    expect((await run(["credits", "show", "--json"], remote(tokens.p1))).json<Account>()).toMatchObject({ account: "p1", balance: 10, reserved: 1 });
    const mine = (await run(["credits", "history", "--json"], remote(tokens.p1))).json<LedgerEntry[]>();
    expect(new Set(mine.map((e) => e.account))).toEqual(new Set(["p1"]));
    expect(mine.some((e) => e.data.idle)).toBe(false);
    expect((await run(["destroy", made.json<Sandbox>().id], remote(tokens.p1))).code).toBe(0);
  }, 120_000);

  it("a tenant never reads another project's account: naming it answers its own", async () => {
    const other = await run(["credits", "show", "--project", "p2", "--json"], remote(tokens.p1));
    expect(other.code, other.stderr).toBe(0);
    expect(other.json<Account>().account).toBe("p1");
    const hist = (await run(["credits", "history", "--project", "p2", "--json"], remote(tokens.p1))).json<LedgerEntry[]>();
    expect(hist.length).toBeGreaterThan(0);
    expect(new Set(hist.map((e) => e.account))).toEqual(new Set(["p1"]));
    // The table shows its account once, and no pool account.
    const table = await run(["credits", "show"], remote(tokens.p1));
    expect(table.code, table.stderr).toBe(0);
    expect(
      table.stdout
        .trim()
        .split("\n")
        .slice(1)
        .map((l) => l.split(/\s+/)[0]),
    ).toEqual(["p1"]);
  }, 60_000);
});
