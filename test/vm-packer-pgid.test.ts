/**
 * teardownBuild signals the saved process group only while it is still the
 * build's: a pgid whose number now belongs to other processes (pid reuse) is
 * never signalled. Real packer builds on localhost; the "recycled" groups are
 * real processes started here, their ids written into the build's pid file as
 * a reused pid would leave it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Broker } from "../src/broker.js";
import { processesIn } from "./helpers/assert.js";
import { makeHome, type TestHome } from "./helpers/home.js";

const FIX = join(import.meta.dirname, "fixtures", "packer");
let home: TestHome;
let broker: Broker;
let work: string;
const strays: ChildProcess[] = [];

const pidFile = (id: string) => join(home.dir, "home", "run", "vm-packer", id, "packer.pgid");

/** A node process that exits on SIGINT (sleeps otherwise), started the way `cmd` says. */
const NODE_SLEEPER = `process.on("SIGINT", () => process.exit(0)); setTimeout(() => {}, 120000);`;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Process group id of `pid` (field 5 of /proc/PID/stat). */
function pgidOf(pid: number): number {
  const rest = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1] ?? "";
  return Number(rest.split(" ")[2]);
}

/** Start a session of its own (`setsid sh -c script`) and return the pids its script prints, once it has. */
async function startGroup(scriptText: string, env: NodeJS.ProcessEnv = process.env): Promise<number[]> {
  const child = spawn("setsid", ["sh", "-c", scriptText], { env, stdio: ["ignore", "pipe", "inherit"] });
  strays.push(child);
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const end = Date.now() + 10_000;
  while (!out.includes("\n") && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return out.trim().split(/\s+/).map(Number);
}

async function readyBuild(): Promise<string> {
  const dir = mkdtempSync(join(work, "ok-"));
  cpSync(join(FIX, "ok"), dir, { recursive: true });
  const sb = await broker.create({ profile: "profile.vm-packer-build", inputs: { packer_template: dir } });
  expect(sb.state).toBe("ready");
  return sb.id;
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "sbx-pgid-"));
  home = makeHome();
  broker = home.broker();
});

afterAll(async () => {
  await home?.cleanup();
  for (const c of strays) {
    if (c.pid) {
      try {
        process.kill(-pgidOf(c.pid), "SIGKILL");
      } catch {
        // gone
      }
    }
  }
  for (const pid of processesIn(work)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  rmSync(work, { recursive: true, force: true });
});

describe("teardownBuild and the saved process group", () => {
  it("the pid file records the group id with the leader's start time", async () => {
    const id = await readyBuild();
    const [pgid, start] = readFileSync(pidFile(id), "utf8").trim().split(" ");
    expect(pgid).toMatch(/^\d+$/);
    expect(start).toMatch(/^\d+$/);
    await broker.destroy(id);
  });

  it("a recycled pgid (the id now leads another session, with another start time) is never signalled", async () => {
    const id = await readyBuild();
    const [, start] = readFileSync(pidFile(id), "utf8").trim().split(" ");
    // Another session whose leader has the number now: same id, different process.
    const [leader] = await startGroup(`echo $$; exec ${JSON.stringify(process.execPath)} -e '${NODE_SLEEPER}'`);
    expect(alive(leader as number)).toBe(true);
    writeFileSync(pidFile(id), `${leader} ${start}\n`);
    const done = await broker.destroy(id);
    expect(done.state).toBe("destroyed");
    expect(alive(leader as number)).toBe(true);
    const notes = (await broker.events({ sandboxId: id })).map((e) => String(e.data.message ?? ""));
    expect(notes.some((m) => m.includes("not signalled"))).toBe(true);
  });

  it("a group whose leader is gone is signalled only when a member carries the build's marker", async () => {
    const foreignId = await readyBuild();
    // Leader exits at once, its child stays in the group: no marker -> foreign.
    const [foreign] = await startGroup(`${JSON.stringify(process.execPath)} -e '${NODE_SLEEPER}' & echo $!`);
    const foreignGroup = pgidOf(foreign as number);
    writeFileSync(pidFile(foreignId), `${foreignGroup} 1\n`);
    await broker.destroy(foreignId);
    expect(alive(foreign as number)).toBe(true);

    // The same shape carrying this build's marker is the build's (Packer's plugins after Packer died): stopped.
    const mineId = await readyBuild();
    const [member] = await startGroup(`${JSON.stringify(process.execPath)} -e '${NODE_SLEEPER}' & echo $!`, { ...process.env, SANDBOXER_BUILD: mineId });
    writeFileSync(pidFile(mineId), `${pgidOf(member as number)} 1\n`);
    await broker.destroy(mineId);
    const end = Date.now() + 10_000;
    while (alive(member as number) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    expect(alive(member as number)).toBe(false);
    expect(alive(foreign as number)).toBe(true);
  });
});
