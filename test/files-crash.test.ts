/**
 * Crashes in the middle of the new multi-step operations (issue 17): a `cp`
 * killed with SIGKILL mid-upload leaves the destination untouched (only a
 * staging dir, swept later); a detached process whose supervisor was killed
 * is reported as ended with no exit code and can still be killed inside the sandbox.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Broker } from "../src/broker.js";
import { CLI } from "./helpers/cli.js";
import { makeHome, type TestHome } from "./helpers/home.js";

async function until(test: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await test())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A ustar header for one regular file of `size` bytes named `name`. */
function tarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0);
  h.write("0000644\0", 100);
  h.write("0000000\0", 108);
  h.write("0000000\0", 116);
  h.write(`${size.toString(8).padStart(11, "0")}\0`, 124);
  h.write(
    `${Math.floor(Date.now() / 1000)
      .toString(8)
      .padStart(11, "0")}\0`,
    136,
  );
  h.write("0", 156);
  h.write("ustar\0", 257);
  h.write("00", 263);
  h.fill(" ", 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  return h;
}

describe("crash safety of uploads and detached processes (ext.local)", { timeout: 120_000 }, () => {
  let home: TestHome;
  let broker: Broker;
  let id: string;
  let ws: string;
  beforeAll(async () => {
    home = makeHome();
    broker = home.broker();
    id = (await broker.create({ profile: "profile.local" })).id;
    ws = join(home.env.SANDBOXER_HOME as string, "workspaces", id);
  });
  afterAll(async () => {
    await home?.cleanup();
  });

  it("kill -9 of `sandboxer cp` mid-upload leaves the destination untouched", async () => {
    await broker.writeFile(id, "dst/keep.txt", "before\n");
    const cli = spawn(CLI, ["cp", "-", `${id}:dst`], { env: home.env as NodeJS.ProcessEnv, stdio: ["pipe", "ignore", "ignore"] });
    cli.stdin.on("error", () => {});
    cli.stdin.write(tarHeader("big.bin", 64 * 1024 * 1024));
    cli.stdin.write(Buffer.alloc(4 * 1024 * 1024, 7));
    // Staged beside the destination, never in it.
    await until(() => existsSync(join(ws, "dst")) && readdirSync(join(ws, "dst")).some((n) => n.startsWith(".sbx-upload-")));
    const gone = new Promise((r) => cli.once("exit", r));
    cli.kill("SIGKILL");
    await gone;
    const names = readdirSync(join(ws, "dst"));
    expect(names).toContain("keep.txt");
    expect(names).not.toContain("big.bin");
    expect(readFileSync(join(ws, "dst", "keep.txt"), "utf8")).toBe("before\n");
    // The next upload lands whole.
    expect((await broker.writeFile(id, "dst/after.txt", "after\n")).bytes).toBe(6);
    // Only the dead upload's staging dir is left beside them (swept by a later upload after an hour).
    const left = (await broker.listFiles(id, "dst")).entries.map((e) => e.name);
    expect(left.filter((n) => !n.startsWith(".sbx-upload-"))).toEqual(["after.txt", "keep.txt"]);
  });

  it("kill -9 of a process's supervisor: reported ended (exit unknown), and kill still reaches its group", async () => {
    const p = await broker.startProcess(id, ["sleep", "431"]);
    const sup = JSON.parse(readFileSync(join(home.env.SANDBOXER_HOME as string, "run", id, "procs", p.pid, "supervisor.json"), "utf8")) as { pid: number };
    process.kill(sup.pid, "SIGKILL");
    await until(async () => (await broker.listProcesses(id)).find((x) => x.pid === p.pid)?.state !== "running");
    expect((await broker.listProcesses(id)).find((x) => x.pid === p.pid)).toMatchObject({ state: "exited", exitCode: null, endedAt: null });
    const ps = async () => (await broker.exec(id, ["ps", "-eo", "args"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" })).stdout ?? "";
    await broker.killProcess(id, p.pid, "KILL");
    await until(async () => !(await ps()).includes("sleep 431"));
    expect((await broker.listProcesses(id)).find((x) => x.pid === p.pid)?.state).toBe("killed");
  });
});
