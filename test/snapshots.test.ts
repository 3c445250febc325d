import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Broker } from "../src/broker.js";
import { resolvePaths } from "../src/paths.js";
import { SandboxerError } from "../src/errors.js";
import { runCli } from "./helpers/cli.js";
import { makeHome, type TestHome } from "./helpers/home.js";
import { openStore } from "./helpers/store.js";

/** Snapshots and restore on real bubblewrap sandboxes (ext.local). */
describe("snapshots: ext.local on real bwrap", () => {
  let home: TestHome;
  let broker: Broker;

  beforeAll(() => {
    home = makeHome();
    broker = home.broker();
  });
  afterAll(async () => {
    await home.cleanup();
  });

  const sh = async (id: string, script: string) => {
    const r = await broker.exec(id, ["sh", "-c", script], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    expect(r.exitCode, r.stderr).toBe(0);
    return r.stdout ?? "";
  };

  it("write files, snapshot, destroy, restore into a NEW sandbox, read them back", async () => {
    const src = await broker.create({ profile: "profile.local" });
    await sh(
      src.id,
      "mkdir -p a/b && printf 'hello snapshot\\n' > a/b/c.txt && seq 1 5000 > nums && ln -s a/b/c.txt link && chmod 751 a && head -c 300000 /dev/urandom > blob",
    );
    const before = await sh(src.id, "sha256sum a/b/c.txt nums blob && stat -c '%a %N' a link");

    const snap = await broker.snapshot(src.id, { name: "first" });
    expect(snap.id).toMatch(/^snap-[a-z2-7]{12}$/);
    expect(snap).toMatchObject({ name: "first", sandboxId: src.id, profile: "profile.local", extension: "ext.local", host: "localhost", format: "tar+zstd" });
    // BLAKE3 (b3sum) for new archives; the algorithm is part of the recorded digest.
    expect(snap.digest).toMatch(/^blake3:[0-9a-f]{64}$/);
    expect(snap.digest).toBe(`blake3:${execFileSync("b3sum", ["--no-names", snap.path]).toString().trim()}`);
    expect(snap.sha256).toBeNull();
    expect(snap.sizeBytes).toBeGreaterThan(0);
    expect(existsSync(snap.path)).toBe(true);
    expect(snap.path.startsWith(join(resolvePaths(home.env).snapshots, ""))).toBe(true);
    expect((await broker.events({ sandboxId: src.id })).filter((e) => e.type === "snapshot.created").map((e) => e.data.snapshot)).toEqual([snap.id]);

    await broker.destroy(src.id);
    const restored = await broker.restore(snap.id);
    expect(restored.id).not.toBe(src.id);
    expect(restored.state).toBe("ready");
    expect(restored.profile).toBe("profile.local");
    expect(await sh(restored.id, "sha256sum a/b/c.txt nums blob && stat -c '%a %N' a link")).toBe(before);
    expect(await sh(restored.id, "cat link")).toBe("hello snapshot\n");

    const types = (await broker.events({ sandboxId: restored.id })).map((e) => e.type);
    expect(types).toContain("snapshot.restored");
    // Committed with the ready transition: right after it, nothing in between.
    expect(types.indexOf("snapshot.restored")).toBe(types.indexOf("sandbox.ready") + 1);
    expect((await broker.snapshots()).map((s) => s.id)).toContain(snap.id);
    expect((await broker.getSnapshot(snap.id)).digest).toBe(snap.digest);
  });

  it("a same-size corruption (bytes flipped inside the archive) is refused too", async () => {
    const src = await broker.create({ profile: "profile.local" });
    await sh(src.id, "head -c 200000 /dev/urandom > r");
    const snap = await broker.snapshot(src.id);
    await broker.destroy(src.id);
    const bytes = readFileSync(snap.path);
    const mid = Math.floor(bytes.length / 2);
    bytes[mid] = (bytes[mid] as number) ^ 0xff;
    writeFileSync(snap.path, bytes);
    const err = (await broker.restore(snap.id).catch((e: unknown) => e)) as SandboxerError;
    expect(err.code).toBe("SBX_SNAPSHOT_CORRUPT");
    expect(err.message).toMatch(/blake3 [0-9a-f]{12}… of \d+ bytes, expected [0-9a-f]{12}…/);
  });

  it("snapshots recorded with SHA-256 (before BLAKE3, or where b3sum is missing) still restore, and are still verified", async () => {
    // An older record: the row's digest column holds a bare sha256 hex, as earlier versions wrote it.
    const src = await broker.create({ profile: "profile.local" });
    await sh(src.id, "echo from-an-old-version > old.txt");
    const made = await broker.snapshot(src.id);
    await broker.destroy(src.id);
    const store = openStore(home.env);
    try {
      const row = await store.snapshots.get(made.id);
      const oldId = "snap-oldoldoldold";
      const oldFile = `${oldId}.tar.zst`;
      copyFileSync(made.path, join(resolvePaths(home.env).snapshots, oldFile));
      const hex = createHash("sha256").update(readFileSync(made.path)).digest("hex");
      await store.snapshots.insert({ ...(row as NonNullable<typeof row>), id: oldId, sha256: hex, file: oldFile });
    } finally {
      await store.close();
    }
    const old = await broker.getSnapshot("snap-oldoldoldold");
    expect(old.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(old.sha256).toBe(old.digest.slice("sha256:".length));
    const restored = await broker.restore(old.id);
    expect(await sh(restored.id, "cat old.txt")).toBe("from-an-old-version\n");
    await broker.destroy(restored.id);
    // Verified with its own algorithm: a changed archive is refused.
    writeFileSync(old.path, "tampered");
    expect(((await broker.restore(old.id).catch((e: unknown) => e)) as SandboxerError).code).toBe("SBX_SNAPSHOT_CORRUPT");

    // Without b3sum on the PATH a new snapshot is hashed with SHA-256, recorded as such, and restores.
    const bin = join(home.dir, "bin-without-b3sum");
    mkdirSync(bin);
    for (const dir of ["/usr/local/bin", "/usr/bin", "/bin"]) {
      if (!existsSync(dir)) continue;
      for (const f of readdirSync(dir)) if (f !== "b3sum" && !existsSync(join(bin, f))) symlinkSync(join(dir, f), join(bin, f));
    }
    const env = { ...home.env, PATH: `${bin}:/usr/local/sbin:/usr/sbin:/sbin` };
    const id = (await runCli(["create", "--profile", "profile.local", "--json"], env)).json<{ id: string }>().id;
    const taken = await runCli(["snapshot", id, "--json"], env);
    expect(taken.code, taken.stderr).toBe(0);
    const snap = taken.json<{ id: string; digest: string; sha256: string }>();
    expect(snap.digest).toBe(`sha256:${snap.sha256}`);
    const back = await runCli(["restore", snap.id, "--json"], env);
    expect(back.code, back.stderr).toBe(0);
    // A BLAKE3 snapshot cannot be verified without b3sum: refused, saying what to install.
    const noTool = await runCli(["restore", made.id], env);
    expect(noTool.code).toBe(1);
    expect(noTool.stderr).toMatch(/SBX_DEPENDENCY_MISSING.*apt-get install b3sum/);
  });

  it("a corrupted archive: restore refuses with a clear error and creates no sandbox, record or directory", async () => {
    const src = await broker.create({ profile: "profile.local" });
    await sh(src.id, "echo data > f");
    const snap = await broker.snapshot(src.id);
    await broker.destroy(src.id);
    const recordsBefore = (await broker.list()).length;
    const dirsBefore = readdirSync(resolvePaths(home.env).workspaces).sort();
    writeFileSync(snap.path, "not the archive you recorded");

    const err = await broker.restore(snap.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxerError);
    expect((err as SandboxerError).code).toBe("SBX_SNAPSHOT_CORRUPT");
    expect((err as SandboxerError).message).toMatch(/does not match its record.*refusing to restore/);
    expect((await broker.list()).length).toBe(recordsBefore);
    expect(readdirSync(resolvePaths(home.env).workspaces).sort()).toEqual(dirsBefore);
    expect((await broker.events({ afterSeq: 0, limit: 100000 })).filter((e) => e.type === "snapshot.restored" && e.data.snapshot === snap.id)).toEqual([]);
  });

  it("snapshot of a destroyed sandbox: clear error, nothing recorded", async () => {
    const src = await broker.create({ profile: "profile.local" });
    await broker.destroy(src.id);
    const count = (await broker.snapshots()).length;
    const err = await broker.snapshot(src.id).catch((e: unknown) => e);
    expect((err as SandboxerError).code).toBe("SBX_INVALID_STATE");
    expect((err as SandboxerError).message).toBe(`${src.id} is destroyed; only a ready sandbox can be snapshotted`);
    expect((await broker.snapshots()).length).toBe(count);
    expect(readdirSync(resolvePaths(home.env).snapshots).filter((f) => f.endsWith(".partial"))).toEqual([]);
  });

  it("CLI: snapshot, snapshots list/get, restore, delete, and exit codes for bad input", async () => {
    const created = await runCli(["create", "--profile", "profile.local", "--json"], home.env);
    expect(created.code, created.stderr).toBe(0);
    const id = created.json<{ id: string }>().id;

    const bad = await runCli(["snapshot", id, "--name", "no spaces please"], home.env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error \[SBX_USAGE\]: name:/);

    const taken = await runCli(["snapshot", id, "--name", "cli-1", "--json"], home.env);
    expect(taken.code, taken.stderr).toBe(0);
    const snap = taken.json<{ id: string; digest: string }>();

    const listed = await runCli(["snapshots", "list", "--sandbox", id, "--json"], home.env);
    expect(listed.json<{ id: string }[]>().map((s) => s.id)).toEqual([snap.id]);
    const human = await runCli(["snapshots", "list"], home.env);
    expect(human.stdout).toMatch(/^ID\s+NAME\s+SANDBOX/);
    expect(human.stdout).toContain("cli-1");

    const got = await runCli(["snapshots", "get", snap.id, "--json"], home.env);
    expect(got.json<{ digest: string }>().digest).toBe(snap.digest);

    const restored = await runCli(["restore", snap.id, "--json"], home.env);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.json<{ state: string }>().state).toBe("ready");

    const missing = await runCli(["restore", "snap-aaaaaaaaaaaa"], home.env);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/^error \[SBX_NOT_FOUND\]: no snapshot 'snap-aaaaaaaaaaaa'/);
    const badHost = await runCli(["restore", snap.id, "--host", "nowhere"], home.env);
    expect(badHost.code).toBe(2);
    expect(badHost.stderr).toMatch(/SBX_HOST_NOT_FOUND/);

    // Into an extension without capabilities.restore: refused before any record exists.
    expect((await runCli(["credits", "add", "5"], home.env)).code).toBe(0);
    const before = (await runCli(["list", "--all", "--json"], home.env)).json<unknown[]>().length;
    const unsupported = await runCli(["restore", snap.id, "--profile", "profile.saas-stub"], home.env);
    expect(unsupported.code).toBe(2);
    expect(unsupported.stderr).toMatch(/^error \[SBX_UNSUPPORTED\]: ext.saas-stub cannot restore snapshots/);
    expect((await runCli(["list", "--all", "--json"], home.env)).json<unknown[]>().length).toBe(before);

    const deleted = await runCli(["snapshot", "delete", snap.id, "--json"], home.env);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(existsSync(deleted.json<{ path: string }>().path)).toBe(false);
    const gone = await runCli(["snapshots", "get", snap.id], home.env);
    expect(gone.code).toBe(3);
  });
});

describe("snapshots: crash safety", () => {
  let home: TestHome;
  beforeAll(() => {
    home = makeHome();
  });
  afterAll(async () => {
    await home.cleanup();
  });

  it("kill -9 after archiving, before the record: no row, and the next snapshot removes the partial file", async () => {
    const created = await runCli(["create", "--profile", "profile.local", "--json"], home.env);
    expect(created.code, created.stderr).toBe(0);
    const id = created.json<{ id: string }>().id;
    const crashed = await runCli(["snapshot", id], { ...home.env, SANDBOXER_CRASH_AT: "snapshot-archived" });
    expect(crashed.code).toBe(137);
    const dir = join(home.env.SANDBOXER_HOME as string, "snapshots");
    expect(readdirSync(dir).filter((f) => f.endsWith(".partial"))).toHaveLength(1);
    expect((await runCli(["snapshots", "list", "--json"], home.env)).json<unknown[]>()).toEqual([]);

    const ok = await runCli(["snapshot", id, "--json"], home.env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(readdirSync(dir).filter((f) => f.endsWith(".partial"))).toEqual([]);
    expect(readdirSync(dir)).toEqual([`${ok.json<{ id: string }>().id}.tar.zst`]);
  });
});
