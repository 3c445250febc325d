/**
 * `cp`, `exec --detach`, `ps`, `logs`, `kill` and `exec --timeout` through a
 * real `sandboxer serve` (SANDBOXER_URL + a tenant token): the same commands
 * and exit codes as locally, and another project's sandbox is not found.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Env } from "../src/config.js";
import { CLI, runCli } from "./helpers/cli.js";
import { makeHome, type TestHome } from "./helpers/home.js";

let home: TestHome;
let server: ChildProcess | undefined;
let url = "";
let p1 = "";
let p2 = "";
let id = "";
const as = (token: string): Env => ({ ...home.env, SANDBOXER_URL: url, SANDBOXER_TOKEN: token });

beforeAll(async () => {
  home = makeHome();
  server = spawn(CLI, ["serve", "--port", "0", "--json"], { env: home.env as NodeJS.ProcessEnv, stdio: ["ignore", "pipe", "ignore"] });
  const first = await new Promise<string>((resolve, reject) => {
    createInterface({ input: server?.stdout as NodeJS.ReadableStream }).once("line", resolve);
    server?.once("exit", (code) => reject(new Error(`serve exited ${code}`)));
  });
  url = (JSON.parse(first) as { url: string }).url;
  const mint = async (project: string) =>
    (await runCli(["tokens", "create", "--actor", "agt", "--project", project, "--json"], home.env)).json<{ token: string }>().token;
  p1 = await mint("p1");
  p2 = await mint("p2");
  const made = await runCli(["create", "--profile", "profile.local", "--json"], as(p1));
  expect(made.code, made.stderr).toBe(0);
  id = made.json<{ id: string }>().id;
}, 120_000);

afterAll(async () => {
  if (server && server.exitCode === null) {
    const gone = new Promise((r) => server?.once("exit", r));
    server.kill("SIGTERM");
    await gone;
  }
  await home?.cleanup();
});

describe("remote CLI: files and processes", { timeout: 120_000 }, () => {
  it("cp a directory up and down (link, executable, empty dir) and a file into a directory", async () => {
    const src = join(home.dir, "tree");
    mkdirSync(join(src, "empty"), { recursive: true });
    writeFileSync(join(src, "run.sh"), "#!/bin/sh\necho remote-ran\n", { mode: 0o755 });
    symlinkSync("run.sh", join(src, "link"));
    const up = await runCli(["cp", src, `${id}:tree`], as(p1));
    expect(up.code, up.stderr).toBe(0);
    const ran = await runCli(["exec", "--json", id, "--", "./tree/link"], as(p1));
    expect(ran.json<{ stdout: string }>().stdout).toBe("remote-ran\n");
    const out = join(home.dir, "back");
    const down = await runCli(["cp", `${id}:tree`, out], as(p1));
    expect(down.code, down.stderr).toBe(0);
    expect(readlinkSync(join(out, "link"))).toBe("run.sh");
    expect(statSync(join(out, "run.sh")).mode & 0o111).not.toBe(0);
    expect(statSync(join(out, "empty")).isDirectory()).toBe(true);
    const file = join(home.dir, "one.txt");
    writeFileSync(file, "one\n");
    expect((await runCli(["cp", file, `${id}:tree/`], as(p1))).code).toBe(0);
    const back = join(home.dir, "one-back.txt");
    expect((await runCli(["cp", `${id}:tree/one.txt`, back], as(p1))).code).toBe(0);
    expect(readFileSync(back, "utf8")).toBe("one\n");
  });

  it("exec --detach, ps, logs --follow, kill; --timeout kills with 124", async () => {
    const d = await runCli(["exec", "--detach", id, "--", "sh", "-c", "echo a; echo b; exit 5"], as(p1));
    expect(d.code, d.stderr).toBe(0);
    const pid = d.stdout.trim();
    const logs = await runCli(["logs", id, pid, "--follow"], as(p1));
    expect(logs.stdout).toBe("a\nb\n");
    const ps = await runCli(["ps", id, "--json"], as(p1));
    expect(ps.json<{ pid: string; exitCode: number }[]>().find((p) => p.pid === pid)?.exitCode).toBe(5);
    const long = (await runCli(["exec", "--detach", id, "--", "sleep", "300"], as(p1))).stdout.trim();
    const k = await runCli(["kill", id, long, "--signal", "KILL", "--json"], as(p1));
    expect(k.code, k.stderr).toBe(0);
    const state = async () => (await runCli(["ps", id, "--json"], as(p1))).json<{ pid: string; state: string }[]>().find((p) => p.pid === long)?.state;
    for (let i = 0; i < 60 && (await state()) !== "killed"; i++) await new Promise((ok) => setTimeout(ok, 250));
    expect(await state()).toBe("killed");
    const t = await runCli(["exec", "--timeout", "1s", id, "--", "sleep", "300"], as(p1));
    expect(t.code).toBe(124);
  });

  it("another project's token finds nothing: cp, ps, logs, kill exit 3", async () => {
    const pid = (await runCli(["exec", "--detach", id, "--", "sleep", "300"], as(p1))).stdout.trim();
    for (const args of [
      ["cp", `${id}:tree`, join(home.dir, "stolen")],
      ["cp", join(home.dir, "one.txt"), `${id}:planted.txt`],
      ["ps", id],
      ["logs", id, pid],
      ["kill", id, pid],
    ]) {
      const r = await runCli(args, as(p2));
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(3);
      expect(r.stderr).toContain("SBX_NOT_FOUND");
    }
    const ps = await runCli(["ps", id, "--json"], as(p1));
    expect(ps.json<{ pid: string; state: string }[]>().find((p) => p.pid === pid)?.state).toBe("running");
    expect((await runCli(["kill", id, pid], as(p1))).code).toBe(0);
  });
});
