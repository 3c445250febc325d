/**
 * Resource limits of ext.local sandboxes on real bubblewrap, cgroups, loop
 * mounts and a real `sandboxer serve`: a fork bomb, a memory hog and a disk
 * filler are stopped at their limits while the API keeps answering another
 * tenant; teardown leaves no cgroup, mount or process; bad limits never load.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Broker } from "../src/broker.js";
import { DEFAULT_LIMITS, resolveLimits } from "../src/catalog/limits.js";
import { loadCatalog } from "../src/catalog/load.js";
import { resolvePaths } from "../src/config.js";
import type { Env } from "../src/config.js";
import { isSandboxArgv } from "../src/extensions/local/bwrap.js";
import { hostAbility } from "../src/extensions/local/limits/apply.js";
import { cgroupHost, listCgroups } from "../src/extensions/local/limits/cgroups.js";
import { isMounted } from "../src/extensions/local/limits/disk.js";
import { homeTag, limitFiles, parseMountinfo, parseProcCgroup, placements } from "../src/extensions/local/limits/layout.js";
import { findProcesses } from "../src/proc.js";
import { rowOf } from "./helpers/store.js";
import type { Sandbox } from "../src/types.js";
import { CLI, runCli } from "./helpers/cli.js";
import { makeHome, type TestHome } from "./helpers/home.js";

const PIPE = { stdin: "ignore", stdout: "pipe", stderr: "pipe" } as const;
const TIGHT = "id: profile.tight\nversion: 1\nextension: ext.local\ntimeout: 60s\nlimits: { processes: 40, memory: 64m, disk: 32m, cpu: 0.5 }\n";

function writeProfiles(dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, `${name}.yaml`), text);
}

describe("limits in profiles", () => {
  let home: TestHome;
  const bad: Record<string, [string, string]> = {
    "profile.bad-memory": ["limits: { memory: lots }", "limits.memory"],
    "profile.bad-processes": ["limits: { processes: 3 }", "limits.processes"],
    "profile.bad-cpu": ["limits: { cpu: 0 }", "limits.cpu"],
    "profile.bad-disk": ["limits: { disk: 1k }", "limits.disk"],
    "profile.bad-key": ["limits: { swap: 1g }", "limits"],
    "profile.over-cap": ["limits: { memory: 64g }", "limits.memory"],
    "profile.unlimited-over-cap": ["limits: { processes: unlimited }", "limits.processes"],
  };
  beforeAll(() => {
    home = makeHome();
    home.env.SANDBOXER_PROFILES_DIR = join(home.dir, "profiles");
    const files: Record<string, string> = { "profile.tight": TIGHT };
    for (const [id, [limits]] of Object.entries(bad)) files[id] = `id: ${id}\nversion: 1\nextension: ext.local\n${limits}\n`;
    writeProfiles(home.env.SANDBOXER_PROFILES_DIR, files);
  });
  afterAll(async () => {
    await home?.cleanup();
  });

  it("a bad limits value fails to load, with the file and the field named; the good ones load", async () => {
    const cat = await loadCatalog(resolvePaths(home.env));
    for (const [id, [, field]] of Object.entries(bad)) {
      expect(cat.profiles.has(id), id).toBe(false);
      expect(
        cat.errors.map((e) => `${e.file.split("/").pop()}:${e.field}`),
        id,
      ).toContain(`${id}.yaml:${field}`);
    }
    expect(cat.errors.find((e) => e.file.endsWith("profile.over-cap.yaml"))?.message).toMatch(
      /above ext\.local's cap of \d+g \(.*local\.yaml: limits\.memory\)/,
    );
    expect(cat.profiles.get("profile.tight")?.limits).toEqual({ processes: 40, memory: "64m", disk: "32m", cpu: 0.5 });
    // A profile that says nothing gets the defaults.
    expect(cat.profiles.get("profile.local")?.limits).toEqual(DEFAULT_LIMITS);
  });

  it("creating with such a profile is refused naming the field, and leaves no record", async () => {
    const r = await runCli(["create", "--profile", "profile.bad-memory", "--json"], home.env);
    expect(r.code).toBe(2);
    expect((JSON.parse(r.stderr) as { error: { code: string; message: string } }).error).toMatchObject({
      code: "SBX_PROFILE_INVALID",
      message: expect.stringContaining("limits.memory"),
    });
    expect(await home.broker().list()).toEqual([]);
  });

  it("registration caps lower a default above them, and refuse an asked value above them (pure)", () => {
    const caps = [{ extension: "ext.local", file: "local.yaml", limits: { memory: "1g", processes: 100 } }];
    expect(resolveLimits({}, caps).limits).toMatchObject({ memory: "1g", processes: 100, disk: DEFAULT_LIMITS.disk });
    expect(resolveLimits({ memory: "512m" }, caps)).toMatchObject({ limits: { memory: "512m" }, errors: [] });
    expect(resolveLimits({ memory: "2g" }, caps).errors).toEqual([{ field: "limits.memory", message: expect.stringContaining("cap of 1g") }]);
  });
});

describe("cgroup layout (pure)", () => {
  const V2_ONLY = "29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";
  const HYBRID = [
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids",
    "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct",
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
    "50 31 0:38 /sub /mnt/bound rw,relatime - cgroup2 cgroup2 rw",
  ].join("\n");

  it("v2 only: every controller the unified root offers goes under our own cgroup (or SANDBOXER_CGROUP_ROOT)", () => {
    const self = parseProcCgroup("0::/system.slice/sandboxer.service/supervisor\n");
    const p = placements(parseMountinfo(V2_ONLY), self, ["cpu", "memory", "pids", "io"], "/h");
    expect(p.pids).toEqual({
      version: 2,
      mountPoint: "/sys/fs/cgroup",
      base: "/system.slice/sandboxer.service/supervisor",
      parent: `/sys/fs/cgroup/system.slice/sandboxer.service/supervisor/sandboxer/${homeTag("/h")}`,
    });
    const rooted = placements(parseMountinfo(V2_ONLY), self, ["cpu", "memory", "pids"], "/h", "/system.slice/sandboxer.service");
    expect(rooted.memory?.parent).toBe(`/sys/fs/cgroup/system.slice/sandboxer.service/sandboxer/${homeTag("/h")}`);
  });

  it("hybrid with an empty unified hierarchy: v1 per controller, each under our cgroup in that hierarchy; binds of a sub-cgroup are ignored", () => {
    const mounts = parseMountinfo(HYBRID);
    expect(mounts.map((m) => m.mountPoint)).toEqual(["/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/unified"]);
    const self = parseProcCgroup("8:pids:/\n4:memory:/jobs/j1\n1:cpu,cpuacct:/\n0::/\n");
    const p = placements(mounts, self, [], "/h");
    expect(p.memory?.parent).toBe(`/sys/fs/cgroup/memory/jobs/j1/sandboxer/${homeTag("/h")}`);
    expect(p.pids?.version).toBe(1);
    expect(p.cpu?.mountPoint).toBe("/sys/fs/cgroup/cpu,cpuacct");
    expect(homeTag("/h")).not.toBe(homeTag("/other"));
  });

  it("limit files per version: swap never stretches memory, cpu is a quota of a 100ms period", () => {
    expect(limitFiles(1, "memory", 1024)).toEqual([
      ["memory.limit_in_bytes", "1024"],
      ["memory.memsw.limit_in_bytes", "1024"],
    ]);
    expect(limitFiles(2, "memory", 1024)).toEqual([
      ["memory.max", "1024"],
      ["memory.swap.max", "0"],
    ]);
    expect(limitFiles(2, "cpu", 0.5)).toEqual([["cpu.max", "50000 100000"]]);
    expect(limitFiles(1, "pids", 40)).toEqual([["pids.max", "40"]]);
  });
});

const ability = process.getuid?.() === 0 ? hostAbility("/nonexistent-home", process.env).ability : null;
const loopDisk = ability?.loopDisk === true;
const cgroupsUsable =
  ability !== null && ["pids", "memory", "cpu"].every((c) => ability.cgroups[c as "pids"] && "version" in (ability.cgroups[c as "pids"] ?? {}));

/** The sandbox's cgroup directory for a controller, from its handle. */
async function cgroupOf(broker: Broker, id: string, file: string): Promise<string> {
  const dirs = ((await rowOf(broker, id))?.handle as { limits?: { cgroups: string[] } } | null)?.limits?.cgroups ?? [];
  const dir = dirs.find((d) => existsSync(join(d, file)));
  if (!dir) throw new Error(`no cgroup of ${id} has ${file}`);
  return dir;
}
const readNum = (file: string) => Number(readFileSync(file, "utf8").trim().split(/\s+/).pop());
const eventCount = (file: string, key: string) => Number(new RegExp(`^${key} (\\d+)$`, "m").exec(readFileSync(file, "utf8"))?.[1] ?? 0);

/** Nothing of the sandbox is left: no cgroup carrying its id, no mount at its workspace, no process. */
function expectGone(home: TestHome, sb: Sandbox): void {
  expect(listCgroups(cgroupHost(resolvePaths(home.env).home, home.env)).get(sb.id)).toBeUndefined();
  expect(spawnSync("find", ["/sys/fs/cgroup", "-name", sb.id]).stdout.toString()).toBe("");
  expect(isMounted(join(resolvePaths(home.env).workspaces, sb.id))).toBe(false);
  expect(findProcesses((argv) => isSandboxArgv(argv, sb.id) !== null)).toEqual([]);
}

describe.skipIf(!cgroupsUsable)("ext.local enforces limits with cgroups and a workspace image (root)", () => {
  let home: TestHome;
  let broker: Broker;
  let serve: ChildProcess | undefined;
  beforeAll(() => {
    home = makeHome();
    home.env.SANDBOXER_PROFILES_DIR = join(home.dir, "profiles");
    writeProfiles(home.env.SANDBOXER_PROFILES_DIR, { "profile.tight": TIGHT });
    broker = home.broker();
  });
  afterAll(async () => {
    serve?.kill("SIGKILL");
    await home?.cleanup();
  });

  it("inspect host shows what this host can enforce", async () => {
    const r = await runCli(["inspect", "host", "localhost", "--json"], home.env);
    const limits = r.json<{
      limits: {
        cgroups: { version: string; controllers: Record<string, { writable: boolean }> };
        disk: { mechanism: string };
        rlimits: { hard: Record<string, string> };
      };
    }>().limits;
    expect(["v1", "v2", "hybrid"]).toContain(limits.cgroups.version);
    for (const c of ["pids", "memory", "cpu"]) expect(limits.cgroups.controllers[c]?.writable, c).toBe(true);
    expect(limits.disk.mechanism).toBe(loopDisk ? "loop-ext4" : "rlimit");
    expect(Object.keys(limits.rlimits.hard)).toEqual(["RLIMIT_NPROC", "RLIMIT_DATA", "RLIMIT_FSIZE"]);
  });

  it("records which mechanism enforces each limit, and every process of the sandbox is in its cgroups", async () => {
    const sb = await broker.create({ profile: "profile.tight" });
    const limits = (sb.reachability as { limits: Record<string, { enforcedBy: string; limit: unknown }> }).limits;
    expect(limits.processes).toMatchObject({ limit: 40, enforcedBy: expect.stringMatching(/^cgroup-v[12]$/) });
    expect(limits.memory).toMatchObject({ limit: "64m", enforcedBy: expect.stringMatching(/^cgroup-v[12]$/) });
    expect(limits.cpu).toMatchObject({ limit: 0.5, enforcedBy: expect.stringMatching(/^cgroup-v[12]$/) });
    expect(limits.disk).toMatchObject({ limit: "32m", enforcedBy: loopDisk ? "loop-ext4" : "rlimit" });
    expect(JSON.stringify(sb.reachability?.limits)).not.toContain("/sys/fs/cgroup");
    // An exec that is still running: it (and nsenter's outer process) were born inside, not moved later.
    const marker = "7.4242";
    const running = broker.exec(sb.id, ["sleep", marker], PIPE);
    let pids: number[] = [];
    for (let i = 0; i < 500 && !pids.length; i++) {
      pids = findProcesses((argv) => argv[0] === "sleep" && argv[1] === marker);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(pids.length).toBe(1);
    const row = await rowOf(broker, sb.id);
    const handle = row?.handle as { pid: number; childPid: number; limits: { cgroups: string[] } };
    const members = new Set(handle.limits.cgroups.flatMap((d) => readFileSync(join(d, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number)));
    for (const pid of [handle.pid, handle.childPid, ...pids]) expect(members.has(pid), `pid ${pid}`).toBe(true);
    // The same set in every hierarchy (v1 has one per controller).
    for (const d of handle.limits.cgroups) expect(readFileSync(join(d, "cgroup.procs"), "utf8").split("\n").filter(Boolean).length).toBe(members.size);
    await broker.destroy(sb.id);
    await running.catch(() => {});
    expectGone(home, sb);
  });

  it("a fork bomb stays at its process limit while a real `sandboxer serve` keeps answering another tenant", async () => {
    serve = spawn(CLI, ["serve", "--port", "0", "--json", "--no-reaper", "--rate-limit", "0"], {
      env: home.env as NodeJS.ProcessEnv,
      stdio: ["ignore", "pipe", "inherit"],
    });
    const url = await new Promise<string>((resolve, reject) => {
      let out = "";
      serve?.stdout?.on("data", (d: Buffer) => {
        out += d.toString();
        const line = out.split("\n")[0];
        if (out.includes("\n") && line) resolve((JSON.parse(line) as { url: string }).url);
      });
      serve?.on("exit", (code) => reject(new Error(`serve exited ${code}`)));
    });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const p2 = (await broker.createToken({ actor: "agt", project: "p2" })).token;
    const other = await broker.create({ profile: "profile.local", actor: "agt", project: "p2" });
    const bombed = await broker.create({ profile: "profile.tight", actor: "agt", project: "p1" });
    const pidsDir = await cgroupOf(broker, bombed.id, "pids.max");
    expect(readNum(join(pidsDir, "pids.max"))).toBe(40);

    // Its exit code is a race (the launching shell's own fork may already be refused); containment is what counts.
    await broker.exec(bombed.id, ["sh", "-c", "f() { f | f & }; f >/dev/null 2>&1 </dev/null; exit 0"], PIPE);
    let answered = 0;
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      const res = await fetch(`${url}/v1/sandboxes/${other.id}`, { headers: { Authorization: `Bearer ${p2}` } });
      expect(res.status).toBe(200);
      expect(((await res.json()) as Sandbox).state).toBe("ready");
      answered++;
      expect(readNum(join(pidsDir, "pids.current"))).toBeLessThanOrEqual(40);
    }
    expect(answered).toBeGreaterThan(0);
    // The bomb did hit the wall (forks refused), and the kernel's high-water mark never passed it.
    expect(eventCount(join(pidsDir, "pids.events"), "max")).toBeGreaterThan(0);
    if (existsSync(join(pidsDir, "pids.peak"))) expect(readNum(join(pidsDir, "pids.peak"))).toBeLessThanOrEqual(40);
    // The other tenant's sandbox still works.
    expect(await broker.exec(other.id, ["echo", "fine"], PIPE)).toMatchObject({ exitCode: 0, stdout: "fine\n" });

    await broker.destroy(bombed.id);
    expectGone(home, bombed);
    await broker.destroy(other.id);
    expectGone(home, other);
  });

  it("a memory hog is OOM-killed at its limit, the cgroup's usage never passes it, and exec reports it", async () => {
    const sb = await broker.create({ profile: "profile.tight" });
    const memDir = (await cgroupOf(broker, sb.id, "memory.oom_control")) ?? (await cgroupOf(broker, sb.id, "memory.events"));
    const limit = 64 * 1024 ** 2;
    // tail keeps a newline-free stream in memory: 300 MiB of it, against 64m.
    const r = await broker.exec(sb.id, ["sh", "-c", "head -c 300m /dev/zero | tail; echo tail-exit=$? >&2"], PIPE);
    expect(r.stderr).toContain("tail-exit=137");
    expect(r.oomKilled).toBeGreaterThan(0);
    expect(r.stderr).toContain("reached its memory limit (64m)");
    const peak = existsSync(join(memDir, "memory.max_usage_in_bytes")) ? join(memDir, "memory.max_usage_in_bytes") : join(memDir, "memory.peak");
    expect(readNum(peak)).toBeLessThanOrEqual(limit);
    // Each tmpfs is capped at the memory limit too (what bounds RAM in /tmp when rlimits stand in for cgroups).
    const tmp = await broker.exec(sb.id, ["sh", "-c", "df -k /tmp /run | tail -2"], PIPE);
    expect(
      tmp.stdout
        ?.split("\n")
        .filter(Boolean)
        .map((l) => l.split(/\s+/)[1]),
    ).toEqual(["65536", "65536"]);
    // The sandbox survives its hog.
    expect(await broker.exec(sb.id, ["echo", "alive"], PIPE)).toMatchObject({ exitCode: 0, stdout: "alive\n" });
    await broker.destroy(sb.id);
    expectGone(home, sb);
  });

  it.skipIf(!loopDisk)("writing past the disk limit fails with ENOSPC inside, and the host holds no more than the image", async () => {
    const sb = await broker.create({ profile: "profile.tight" });
    const image = join(resolvePaths(home.env).run, sb.id, "disk.img");
    const r = await broker.exec(sb.id, ["sh", "-c", "head -c 100m /dev/zero > /workspace/big; echo rc=$?; df -k /workspace | tail -1"], PIPE);
    expect(r.stderr).toContain("No space left on device");
    expect(r.stdout).toContain("rc=1");
    const inside = statSync(join(resolvePaths(home.env).workspaces, sb.id, "big")).size;
    expect(inside).toBeLessThanOrEqual(32 * 1024 ** 2);
    // The image is sparse and bounded: what it takes on the host disk is at most its size.
    expect(statSync(image).blocks * 512).toBeLessThanOrEqual(32 * 1024 ** 2);
    expect(statSync(image).size).toBe(32 * 1024 ** 2);
    await broker.destroy(sb.id);
    expect(existsSync(image)).toBe(false);
    expectGone(home, sb);
    // The next sandbox gets a freshly formatted image (a spare made at teardown), never a used one.
    const next = await broker.create({ profile: "profile.tight" });
    expect(await broker.exec(next.id, ["sh", "-c", "ls -A /workspace; df -k /workspace | tail -1"], PIPE)).toMatchObject({
      exitCode: 0,
      stdout: expect.not.stringContaining("big"),
    });
    await broker.destroy(next.id);
    expectGone(home, next);
  });

  it("leftover cgroups (a crash before the record) show as stale and reap-stale removes them", async () => {
    const paths = resolvePaths(home.env);
    const placement = cgroupHost(paths.home, home.env).placements.pids;
    if (!placement) throw new Error("no pids placement");
    const ghost = "sbx-aaaaaaaaaaaa";
    mkdirSync(join(placement.parent, ghost), { recursive: true });
    const report = await broker.inspectStale({ host: "localhost" });
    expect(report.orphans).toContainEqual(expect.objectContaining({ sandboxId: ghost, kind: "cgroup" }));
    const reaped = await broker.reapStale({ host: "localhost" });
    expect(reaped.errors).toEqual([]);
    expect(existsSync(join(placement.parent, ghost))).toBe(false);
  });
});

// As root we can play an unprivileged operator: uid 65534, no delegated cgroup, no loop mounts.
const NOBODY = 65534;
const canDropToNobody =
  process.getuid?.() === 0 && spawnSync("setpriv", [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "--", "test", "-x", CLI]).status === 0;

describe.skipIf(!canDropToNobody)("ext.local limits for an unprivileged operator (uid 65534)", () => {
  let home: TestHome;
  let env: Env;
  const cli = (...args: string[]) => runCli(args, env, { asUid: NOBODY });
  beforeAll(() => {
    home = makeHome();
    const dir = join(home.dir, "nobody");
    chmodSync(home.dir, 0o711);
    mkdirSync(dir);
    writeProfiles(join(dir, "profiles"), { "profile.tight": TIGHT });
    spawnSync("chown", ["-R", `${NOBODY}:${NOBODY}`, dir]);
    chownSync(dir, NOBODY, NOBODY);
    env = {
      ...home.env,
      HOME: dir,
      SANDBOXER_HOME: join(dir, "home"),
      SANDBOXER_CONFIG: join(dir, "config.yaml"),
      SANDBOXER_PROFILES_DIR: join(dir, "profiles"),
    };
  });
  afterAll(async () => {
    const left = await cli("list", "--json").catch(() => null);
    for (const sb of left?.code === 0 ? left.json<Sandbox[]>() : []) await cli("destroy", sb.id).catch(() => {});
    await home?.cleanup();
  });

  it("works with rlimits, says what they do not cover, and bounds each file by the disk limit", async () => {
    const created = await cli("create", "--profile", "profile.tight", "--json");
    expect(created.code, created.stderr).toBe(0);
    const sb = created.json<Sandbox>();
    const limits = (sb.reachability as { limits: Record<string, { enforcedBy: string; via?: string; note?: string }> }).limits;
    expect(limits.processes).toMatchObject({ enforcedBy: "rlimit", via: "RLIMIT_NPROC", note: expect.stringContaining("uid") });
    expect(limits.memory).toMatchObject({ enforcedBy: "rlimit", via: "RLIMIT_DATA" });
    expect(limits.disk).toMatchObject({ enforcedBy: "rlimit", via: "RLIMIT_FSIZE", note: expect.stringContaining("not the workspace's total") });
    expect(limits.cpu).toMatchObject({ enforcedBy: "none", note: expect.stringContaining("no rlimit") });
    const r = await cli("exec", sb.id, "--json", "--", "sh", "-c", "cat /proc/self/limits; head -c 40m /dev/zero > big; echo size=$(stat -c %s big)");
    const out = r.json<{ exitCode: number; stdout: string; stderr: string }>().stdout;
    const soft = (name: string) => new RegExp(`^${name}\\s+(\\d+)`, "m").exec(out)?.[1];
    expect(soft("Max processes")).toBe("40");
    expect(soft("Max data size")).toBe(String(64 * 1024 ** 2));
    expect(soft("Max file size")).toBe(String(32 * 1024 ** 2));
    expect(Number(/size=(\d+)/.exec(out)?.[1])).toBeLessThanOrEqual(32 * 1024 ** 2);
    const destroyed = await cli("destroy", sb.id, "--json");
    expect(destroyed.json<Sandbox>().state).toBe("destroyed");
    expect(findProcesses((argv) => isSandboxArgv(argv, sb.id) !== null)).toEqual([]);
  });
});
