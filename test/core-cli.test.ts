import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isSandboxArgv } from "../src/extensions/local/bwrap.js";
import { findProcesses } from "../src/proc.js";
import type { Sandbox, SandboxEvent } from "../src/types.js";
import { runCli } from "./helpers/cli.js";
import { makeHome, type TestHome } from "./helpers/home.js";

const RECORD_FIELDS = [
  "id",
  "profile",
  "profileVersion",
  "extension",
  "mode",
  "host",
  "state",
  "actor",
  "project",
  "inputs",
  "createdAt",
  "readyAt",
  "expiresAt",
  "destroyedAt",
  "reason",
  "reachability",
  "route",
  "cost",
  "error",
];

let home: TestHome;
beforeAll(() => {
  home = makeHome();
  const profiles = join(home.dir, "profiles");
  mkdirSync(profiles);
  writeFileSync(
    join(profiles, "profile.local-net.yaml"),
    "id: profile.local-net\nversion: 1\nextension: ext.local\nnetwork: host\ninputs:\n  repo: { type: path }\n",
  );
  home.env.SANDBOXER_PROFILES_DIR = profiles;
});
afterAll(async () => {
  await home.cleanup();
});

const cli = (...args: string[]) => runCli(args, home.env);

describe("sandbox lifecycle through the CLI (real bubblewrap)", () => {
  let sb: Sandbox;

  it("a bare create establishes the canary on localhost with host facts", async () => {
    const r = await cli("create", "--json", "--actor", "agt", "--project", "demo", "--ttl", "10m");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    sb = r.json<Sandbox>();
    for (const f of RECORD_FIELDS) expect(sb).toHaveProperty(f);
    expect(sb).toMatchObject({ profile: "profile.sandbox-canary", extension: "ext.local", host: "localhost", state: "ready", actor: "agt", project: "demo" });
    expect(Date.parse(sb.expiresAt ?? "") - Date.parse(sb.createdAt)).toBe(600_000);
    expect(sb.hostFacts).toMatchObject({
      kernel: expect.any(String),
      cpus: expect.any(Number),
      memoryBytes: expect.any(Number),
      diskFreeBytes: expect.any(Number),
    });
    expect(existsSync(join(home.env.SANDBOXER_HOME as string, "workspaces", sb.id))).toBe(true);
  });

  it("exec passes stdout, stderr and the exit code through", async () => {
    const r = await cli("exec", sb.id, "--", "sh", "-c", "echo out; echo err >&2; exit 7");
    expect(r).toMatchObject({ code: 7, stdout: "out\n", stderr: "err\n" });
    const j = await cli("exec", sb.id, "--json", "--", "sh", "-c", "echo hi > /workspace/f; cat /workspace/f");
    expect(j.code).toBe(0);
    expect(j.json()).toMatchObject({ exitCode: 0, stdout: "hi\n" });
  });

  it("get, list (table and json) and events show the truth", async () => {
    expect((await cli("get", sb.id, "--json")).json<Sandbox>().state).toBe("ready");
    const table = await cli("list");
    expect(table.stdout).toMatch(/^ID\s+STATE\s+PROFILE/);
    expect(table.stdout).toContain(sb.id);
    const listed = (await cli("list", "--json")).json<Sandbox[]>();
    expect(listed.map((s) => s.id)).toContain(sb.id);
    const events = (await cli("events", sb.id, "--json")).json<SandboxEvent[]>().map((e) => e.type);
    expect(events).toEqual(["sandbox.requested", "sandbox.provisioning", "sandbox.progress", "sandbox.ready"]);
  });

  it("destroy removes process and workspace, keeps the record, and is idempotent", async () => {
    const r = await cli("destroy", sb.id, "--json");
    expect(r.code).toBe(0);
    expect(r.json<Sandbox>()).toMatchObject({ state: "destroyed", reason: "user" });
    expect(existsSync(join(home.env.SANDBOXER_HOME as string, "workspaces", sb.id))).toBe(false);
    expect(findProcesses((a) => isSandboxArgv(a, sb.id) !== null)).toEqual([]);
    expect((await cli("destroy", sb.id)).code).toBe(0);
    expect((await cli("list", "--json")).json<Sandbox[]>().map((s) => s.id)).not.toContain(sb.id);
    expect((await cli("list", "--all", "--json")).json<Sandbox[]>().map((s) => s.id)).toContain(sb.id);
    const exec = await cli("exec", sb.id, "--", "true");
    expect(exec.code).toBe(4);
    expect(exec.stderr).toMatch(/^error \[SBX_INVALID_STATE\]/);
  });

  it("recreate makes a new sandbox from the same request", async () => {
    const first = (await cli("create", "--profile", "profile.local", "--json", "--project", "re")).json<Sandbox>();
    const second = (await cli("recreate", first.id, "--json")).json<Sandbox>();
    expect(second.id).not.toBe(first.id);
    expect(second).toMatchObject({ profile: "profile.local", project: "re", state: "ready" });
    expect((await cli("get", first.id, "--json")).json<Sandbox>().state).toBe("destroyed");
    expect((await cli("destroy", second.id)).code).toBe(0);
  });
});

describe("isolation", () => {
  const marker = join(homedir(), `.sbx-isolation-${process.pid}`);
  let id: string;
  beforeAll(async () => {
    writeFileSync(marker, "secret");
    const r = await runCli(["create", "--profile", "profile.local", "--json"], { ...home.env, SBX_SECRET_TOKEN: "hunter2" });
    id = r.json<Sandbox>().id;
  });
  afterAll(async () => {
    rmSync(marker, { force: true });
    await cli("destroy", id);
  });

  it("does not see the host's home, and sees only its own workspace", async () => {
    const r = await cli("exec", id, "--", "sh", "-c", `cat ${marker} 2>&1; ls /; ls ${homedir()} 2>&1`);
    expect(r.stdout).not.toContain("secret");
    expect(r.stdout.split("\n")).toContain("workspace");
    expect(r.stdout).toMatch(/No such file or directory/);
  });

  it("has no network interface but loopback", async () => {
    const r = await cli("exec", id, "--", "cat", "/proc/net/dev");
    const ifaces = r.stdout
      .split("\n")
      .slice(2)
      .filter(Boolean)
      .map((l) => l.split(":")[0]?.trim());
    expect(ifaces).toEqual(["lo"]);
  });

  it("has a read-only system, its own hostname and pid namespace, and no host environment", async () => {
    const r = await cli("exec", id, "--", "sh", "-c", "touch /usr/x 2>&1; hostname; echo $$; env");
    expect(r.stdout).toMatch(/Read-only file system/);
    expect(r.stdout).toContain(id);
    expect(r.stdout).not.toContain("hunter2");
    expect(r.stdout).not.toContain("SANDBOXER_HOME");
  });

  it("a profile with network: host shares the host's interfaces", async () => {
    const net = (await cli("create", "--profile", "profile.local-net", "--json")).json<Sandbox>();
    const r = await cli("exec", net.id, "--", "cat", "/proc/net/dev");
    expect(r.stdout.split("\n").slice(2).filter(Boolean).length).toBeGreaterThan(1);
    await cli("destroy", net.id);
  });
});

describe("bad input gets a clear error and changes nothing", () => {
  const cases: [string, string[], number, RegExp][] = [
    ["unknown profile", ["create", "--profile", "profile.nope"], 2, /\[SBX_PROFILE_NOT_FOUND\].*profile\.nope/],
    ["unknown extension", ["create", "--extension", "ext.nope"], 2, /\[SBX_EXTENSION_NOT_FOUND\].*ext\.nope/],
    ["unknown input", ["create", "--profile", "profile.local", "--input", "colour=red"], 2, /\[SBX_INPUT_UNKNOWN\].*'colour'/],
    ["malformed input", ["create", "--profile", "profile.local", "--input", "repo"], 2, /\[SBX_USAGE\].*NAME=VALUE/],
    ["bad ttl", ["create", "--ttl", "forever"], 2, /\[SBX_TTL_INVALID\] ttl|\[SBX_TTL_INVALID\]: ttl/],
    ["ttl over max", ["create", "--ttl", "3d"], 2, /\[SBX_TTL_INVALID\].*maximum/],
    ["command substitution", ["create", "--profile", "profile.local", "--input", "repo=$(touch /tmp/pwned)"], 2, /\[SBX_INPUT_INVALID\].*'repo'/],
    ["backticks", ["create", "--profile", "profile.local", "--input", "repo=`touch /tmp/pwned`"], 2, /\[SBX_INPUT_INVALID\].*'repo'/],
    ["semicolon", ["create", "--profile", "profile.local", "--input", "repo=/tmp;touch /tmp/pwned"], 2, /\[SBX_INPUT_INVALID\].*'repo'/],
    ["newline", ["create", "--profile", "profile.local", "--input", "repo=/tmp\ntouch"], 2, /\[SBX_INPUT_INVALID\].*'repo'/],
    ["dot-dot", ["create", "--profile", "profile.local", "--input", "repo=../../etc"], 2, /\[SBX_INPUT_INVALID\].*'repo'.*\.\./],
    ["very long value", ["create", "--profile", "profile.local", "--input", `repo=/${"a".repeat(5000)}`], 2, /\[SBX_INPUT_INVALID\].*'repo'.*longer/],
    ["repo that does not exist", ["create", "--profile", "profile.local", "--input", "repo=/nonexistent/dir"], 2, /\[SBX_INPUT_INVALID\].*'repo'/],
    ["bad actor", ["create", "--actor", "root"], 2, /\[SBX_USAGE\].*actor/],
    ["unknown flag", ["create", "--colour", "red"], 2, /\[SBX_USAGE\].*colour/],
    ["unknown command", ["frobnicate"], 2, /\[SBX_USAGE\].*frobnicate/],
    ["unknown host", ["create", "--host", "nowhere"], 2, /\[SBX_HOST_NOT_FOUND\].*nowhere/],
    ["missing id", ["get"], 2, /\[SBX_USAGE\].*ID/],
    ["unknown id", ["get", "sbx-aaaaaaaaaaaa"], 3, /\[SBX_NOT_FOUND\]/],
    ["destroy unknown id", ["destroy", "sbx-aaaaaaaaaaaa"], 3, /\[SBX_NOT_FOUND\]/],
  ];

  it.each(cases)("%s -> exit %i", async (_name, args, code, message) => {
    const before = (await cli("list", "--all", "--json")).json<Sandbox[]>().length;
    const ws = join(home.env.SANDBOXER_HOME as string, "workspaces");
    const dirsBefore = existsSync(ws) ? readdirSync(ws).length : 0;
    const r = await cli(...args);
    expect(r.code).toBe(code);
    expect(r.stdout).toBe("");
    expect(r.stderr.split("\n")[0]).toMatch(/^error \[SBX_[A-Z_]+\]: /);
    expect(r.stderr).toMatch(message);
    expect((await cli("list", "--all", "--json")).json<Sandbox[]>().length).toBe(before);
    expect(existsSync(ws) ? readdirSync(ws).length : 0).toBe(dirsBefore);
    expect(existsSync("/tmp/pwned")).toBe(false);
  });

  it("--json errors are one JSON object with code and message", async () => {
    const r = await cli("create", "--profile", "profile.nope", "--json");
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stderr)).toEqual({ error: { code: "SBX_PROFILE_NOT_FOUND", message: expect.stringContaining("profile.nope") } });
  });
});

describe("catalog commands", () => {
  it("profiles list/show, extensions list, hosts list", async () => {
    const profiles = (await cli("profiles", "list", "--json")).json<{ profiles: { id: string }[] }>();
    expect(profiles.profiles.map((p) => p.id)).toEqual(expect.arrayContaining(["profile.sandbox-canary", "profile.local"]));
    expect((await cli("profiles", "show", "profile.local")).stdout).toContain("ext.local");
    expect((await cli("profiles", "show", "profile.nope")).code).toBe(2);
    const exts = (await cli("extensions", "list", "--json")).json<{ id: string; kind: string }[]>();
    expect(exts.find((e) => e.id === "ext.local")).toMatchObject({ kind: "self-hosted", enabled: true });
    expect((await cli("hosts", "list", "--json")).json<{ name: string }[]>()[0]?.name).toBe("localhost");
  });
});
