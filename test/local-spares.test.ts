/**
 * Spare workspace filesystems of ext.local (src/extensions/local/limits/spares.ts):
 * made at teardown, claimed at create. Every sandbox gets a filesystem nobody
 * used before (a new ext4 UUID, empty), never one two sandboxes share; the set
 * is bounded; a kill -9 while a spare is claimed or being made leaves nothing
 * that `reconcile` or `reap-stale` does not remove; a home's spares unmount
 * with it. Real loop devices, mounts and bubblewrap; root only.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Broker } from "../src/broker.js";
import { resolvePaths } from "../src/config.js";
import { hostAbility } from "../src/extensions/local/limits/apply.js";
import { isMounted, mountsUnder } from "../src/extensions/local/limits/disk.js";
import { KEEP, linkWorkspace, listSpares, MAX_SIZES, removeSpares, sparesDir } from "../src/extensions/local/limits/spares.js";
import type { Sandbox } from "../src/types.js";
import { runCli } from "./helpers/cli.js";
import { makeHome, type TestHome } from "./helpers/home.js";

const PIPE = { stdin: "ignore", stdout: "pipe", stderr: "pipe" } as const;
const MIB = 1024 ** 2;
const profile = (id: string, disk: string) =>
  `id: ${id}\nversion: 1\nextension: ext.local\ntimeout: 60s\nlimits: { processes: 100, memory: 256m, disk: ${disk}, cpu: 1 }\ninputs: { repo: { type: path } }\n`;

const loopDisk = process.getuid?.() === 0 && hostAbility("/nonexistent-home", process.env).ability.loopDisk === true;

/** The ext4 UUID of the filesystem mounted at `at` (its loop device, probed by blkid, never from its cache). */
function uuidAt(at: string): string {
  const dev = execFileSync("findmnt", ["-n", "-o", "SOURCE", "--mountpoint", at], { encoding: "utf8" }).trim().split("\n").pop() as string;
  return execFileSync("blkid", ["-p", "-o", "value", "-s", "UUID", dev], { encoding: "utf8" }).trim();
}

function setup(dir?: string): { home: TestHome; broker: Broker; run: string; ws: (id: string) => string; cli: (...a: string[]) => ReturnType<typeof runCli> } {
  const home = makeHome(dir ? { SANDBOXER_HOME: join(dir, "home") } : {});
  home.env.SANDBOXER_PROFILES_DIR = join(home.dir, "profiles");
  mkdirSync(home.env.SANDBOXER_PROFILES_DIR);
  writeFileSync(join(home.env.SANDBOXER_PROFILES_DIR, "profile.d32.yaml"), profile("profile.d32", "32m"));
  writeFileSync(join(home.env.SANDBOXER_PROFILES_DIR, "profile.d48.yaml"), profile("profile.d48", "48m"));
  writeFileSync(join(home.env.SANDBOXER_PROFILES_DIR, "profile.d64.yaml"), profile("profile.d64", "64m"));
  const paths = resolvePaths(home.env);
  return { home, broker: home.broker(), run: paths.run, ws: (id) => join(paths.workspaces, id), cli: (...a) => runCli(a, home.env) };
}

/** Is there anything at `p`, a dangling link included? */
function lstatExists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/** Nothing is mounted under the home but its ready spares. */
function onlySpares(home: TestHome): void {
  const paths = resolvePaths(home.env);
  const spares = new Set(listSpares(paths.run).map((s) => join(s.dir, "mnt")));
  expect(mountsUnder([paths.home]).filter((m) => !spares.has(m))).toEqual([]);
}

describe.skipIf(!loopDisk)("spare workspace filesystems (root, loop devices)", () => {
  let t: ReturnType<typeof setup>;
  beforeAll(() => {
    t = setup();
  });
  afterAll(async () => {
    await t?.home.cleanup();
  });

  it("each sandbox gets a fresh filesystem: the spare made at teardown, claimed by the next create, never a used one", async () => {
    const a = await t.broker.create({ profile: "profile.d32" });
    expect(await t.broker.exec(a.id, ["sh", "-c", "echo secret > /workspace/left-behind"], PIPE)).toMatchObject({ exitCode: 0 });
    const uuidA = uuidAt(t.ws(a.id));
    await t.broker.destroy(a.id);
    const spares = listSpares(t.run);
    expect(spares.map((s) => [s.bytes, s.mounted])).toEqual([[32 * MIB, true]]);
    const spareUuid = uuidAt(join(spares[0]?.dir as string, "mnt"));
    expect(spareUuid).not.toBe(uuidA);

    const b = await t.broker.create({ profile: "profile.d32" });
    // B took the spare (its workspace path is a link to that filesystem) and the spare is gone from the set.
    expect(uuidAt(t.ws(b.id))).toBe(spareUuid);
    expect(lstatSync(t.ws(b.id)).isSymbolicLink()).toBe(true);
    expect(realpathSync(t.ws(b.id))).toBe(join(t.run, b.id, "spare", "mnt"));
    expect(listSpares(t.run)).toEqual([]);
    const inside = await t.broker.exec(b.id, ["sh", "-c", "ls -A /workspace; df -k /workspace | tail -1"], PIPE);
    expect(inside.exitCode).toBe(0);
    const lines = (inside.stdout ?? "").trim().split("\n");
    expect(lines).toHaveLength(1); // no file, no lost+found: only df's line
    expect(Number(lines[0]?.split(/\s+/)[1])).toBeLessThanOrEqual(32 * 1024);
    // The image is where it always was.
    expect(existsSync(join(t.run, b.id, "disk.img"))).toBe(true);
    await t.broker.destroy(b.id);
    expect(lstatExists(t.ws(b.id))).toBe(false);
    const next = listSpares(t.run);
    expect(next).toHaveLength(1);
    expect([uuidA, spareUuid]).not.toContain(uuidAt(join(next[0]?.dir as string, "mnt")));
    onlySpares(t.home);
  });

  it("creates racing for one spare never share it; the set stays bounded per size and in sizes", async () => {
    expect(listSpares(t.run).filter((s) => s.bytes === 32 * MIB)).toHaveLength(1);
    const many = await Promise.all([0, 1, 2].map(() => t.broker.create({ profile: "profile.d32" })));
    const uuids = many.map((s) => uuidAt(t.ws(s.id)));
    expect(new Set(uuids).size).toBe(3);
    await Promise.all(many.map((s) => t.broker.destroy(s.id)));
    expect(listSpares(t.run).filter((s) => s.bytes === 32 * MIB).length).toBeLessThanOrEqual(KEEP);
    for (const p of ["profile.d48", "profile.d64"]) await t.broker.destroy((await t.broker.create({ profile: p })).id);
    const sizes = new Set(listSpares(t.run).map((s) => s.bytes));
    expect(sizes.size).toBeLessThanOrEqual(MAX_SIZES);
    expect(sizes.has(64 * MIB)).toBe(true);
    onlySpares(t.home);
  });

  it("a repo copy, a snapshot and a restore fill a workspace that is a link to a spare, inside its limit", async () => {
    const repo = join(t.home.dir, "repo");
    mkdirSync(join(repo, "sub"), { recursive: true });
    writeFileSync(join(repo, "sub", "hello.txt"), "hello\n");
    await t.broker.destroy((await t.broker.create({ profile: "profile.d32" })).id);
    expect(listSpares(t.run).some((s) => s.bytes === 32 * MIB)).toBe(true);
    const a = await t.broker.create({ profile: "profile.d32", inputs: { repo } });
    expect(lstatSync(t.ws(a.id)).isSymbolicLink()).toBe(true);
    // The copy landed on the sandbox's own filesystem, not beside the link.
    expect(readFileSync(join(t.run, a.id, "spare", "mnt", "sub", "hello.txt"), "utf8")).toBe("hello\n");
    expect((await t.broker.exec(a.id, ["cat", "/workspace/sub/hello.txt"], PIPE)).stdout).toBe("hello\n");
    const full = await t.broker.exec(a.id, ["sh", "-c", "dd if=/dev/zero of=/workspace/big bs=1M count=64 2>&1; echo rc=$?"], PIPE);
    expect(full.stdout).toMatch(/No space left on device/);
    expect(await t.broker.exec(a.id, ["rm", "/workspace/big"], PIPE)).toMatchObject({ exitCode: 0 });
    const snap = await t.broker.snapshot(a.id);
    await t.broker.destroy(a.id);
    expect(listSpares(t.run).some((s) => s.bytes === 32 * MIB)).toBe(true);
    const b = await t.broker.restore(snap.id);
    expect(lstatSync(t.ws(b.id)).isSymbolicLink()).toBe(true);
    expect((await t.broker.exec(b.id, ["cat", "/workspace/sub/hello.txt"], PIPE)).stdout).toBe("hello\n");
    await t.broker.destroy(b.id);
    onlySpares(t.home);
  });

  it("inspect host counts the spares, without paths", async () => {
    const r = await t.cli("inspect", "host", "localhost", "--json");
    const disk = r.json<{ limits: { disk: { mechanism: string; spares: { bytes: number; mounted: boolean }[] } } }>().limits.disk;
    expect(disk.spares).toEqual(listSpares(t.run).map((s) => ({ bytes: s.bytes, mounted: s.mounted })));
    expect(JSON.stringify(disk)).not.toContain(t.run);
  });

  it.each(["disk-spare-claimed", "disk-spare-linked"])("create killed -9 at %s: reconcile fails the record and unmounts the spare", async (point) => {
    await t.broker.destroy((await t.broker.create({ profile: "profile.d32" })).id);
    expect(listSpares(t.run).some((s) => s.bytes === 32 * MIB)).toBe(true);
    const r = await runCli(["create", "--profile", "profile.d32", "--json"], { ...t.home.env, SANDBOXER_CRASH_AT: point });
    expect(r.code).not.toBe(0);
    const stuck = (await t.broker.list({ states: ["provisioning"] }))[0] as Sandbox;
    expect(stuck).toBeTruthy();
    // The claimed spare is mounted inside the dead create's run directory, no longer in the set.
    expect(isMounted(join(t.run, stuck.id, "spare", "mnt"))).toBe(true);
    const rec = await t.cli("reconcile", "--json");
    expect(rec.json<{ actions: { id: string; to: string }[] }>().actions).toContainEqual(expect.objectContaining({ id: stuck.id, to: "failed" }));
    expect(existsSync(join(t.run, stuck.id))).toBe(false);
    expect(lstatExists(t.ws(stuck.id))).toBe(false);
    onlySpares(t.home);
  });

  it("destroy killed -9 while making the next spare: reconcile finishes the destroy and nothing half made stays mounted", async () => {
    const sb = await t.broker.create({ profile: "profile.d32" });
    const r = await runCli(["destroy", sb.id], { ...t.home.env, SANDBOXER_CRASH_AT: "disk-spare-built" });
    expect(r.code).not.toBe(0);
    expect((await t.broker.get(sb.id)).state).toBe("destroying");
    expect(isMounted(join(t.run, sb.id, "next-spare", "mnt"))).toBe(true);
    const rec = await t.cli("reconcile", "--json");
    expect(rec.json<{ actions: { id: string; to: string }[] }>().actions).toContainEqual(expect.objectContaining({ id: sb.id, to: "destroyed" }));
    expect(existsSync(join(t.run, sb.id))).toBe(false);
    expect(listSpares(t.run).filter((s) => s.bytes === 32 * MIB)).toHaveLength(1);
    onlySpares(t.home);
  });

  it("a claimed spare with no record (a crash that lost it) shows in inspect stale and reap-stale unmounts it", async () => {
    const spare = listSpares(t.run).find((s) => s.bytes === 32 * MIB);
    if (!spare) throw new Error("no spare to play with");
    const ghost = "sbx-aaaaaaaaaaaa";
    mkdirSync(join(t.run, ghost));
    renameSync(spare.dir, join(t.run, ghost, "spare"));
    mkdirSync(t.ws(ghost));
    linkWorkspace(join(t.run, ghost, "spare"), t.ws(ghost));
    const report = await t.broker.inspectStale({ host: "localhost" });
    expect(report.orphans).toContainEqual(expect.objectContaining({ sandboxId: ghost, kind: "directory" }));
    const reaped = await t.broker.reapStale({ host: "localhost" });
    expect(reaped.errors).toEqual([]);
    expect(existsSync(join(t.run, ghost))).toBe(false);
    expect(lstatExists(t.ws(ghost))).toBe(false);
    onlySpares(t.home);
  });

  it("a spare a reboot left unmounted is dropped, never handed out", async () => {
    const spare = listSpares(t.run)[0];
    if (!spare) throw new Error("no spare");
    execFileSync("umount", [join(spare.dir, "mnt")]);
    writeFileSync(join(spare.dir, "mnt", "not-fresh"), "x");
    const sb = await t.broker.create({ profile: spare.bytes === 32 * MIB ? "profile.d32" : spare.bytes === 48 * MIB ? "profile.d48" : "profile.d64" });
    expect((await t.broker.exec(sb.id, ["ls", "-A", "/workspace"], PIPE)).stdout).toBe("");
    await t.broker.destroy(sb.id);
    onlySpares(t.home);
  });

  it("removeSpares (a home's teardown) unmounts every spare", async () => {
    expect(listSpares(t.run).length).toBeGreaterThan(0);
    await removeSpares(t.run);
    expect(existsSync(sparesDir(t.run))).toBe(false);
    expect(mountsUnder([resolvePaths(t.home.env).home])).toEqual([]);
  });
});

describe.skipIf(!loopDisk)("spares under a shared mount (systemd makes / shared: mounts there propagate to peers)", () => {
  let dir: string;
  let t: ReturnType<typeof setup> | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "sbx-shared-"));
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=256m", "sbx-shared", dir]);
    execFileSync("mount", ["--make-shared", dir]);
    t = setup(dir);
  });
  afterAll(async () => {
    await t?.home.cleanup();
    spawnSync("umount", ["-R", dir]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("the spare is claimed the same way (renames and a link, no mount moved), still fresh, and teardown unmounts it", async () => {
    if (!t) throw new Error("no setup");
    await t.broker.destroy((await t.broker.create({ profile: "profile.d32" })).id);
    const spare = listSpares(t.run)[0];
    if (!spare) throw new Error("no spare was made");
    const uuid = uuidAt(join(spare.dir, "mnt"));
    const sb = await t.broker.create({ profile: "profile.d32" });
    expect(uuidAt(t.ws(sb.id))).toBe(uuid);
    // The claimed mount stays in the sandbox's run directory until teardown.
    expect(isMounted(join(t.run, sb.id, "spare", "mnt"))).toBe(true);
    expect((await t.broker.exec(sb.id, ["ls", "-A", "/workspace"], PIPE)).stdout).toBe("");
    await t.broker.destroy(sb.id);
    expect(readdirSync(t.run).filter((n) => n.startsWith("sbx-"))).toEqual([]);
    onlySpares(t.home);
  });
});
