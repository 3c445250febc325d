import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Broker } from "../src/broker.js";
import { loadExtension } from "../src/extensions/index.js";
import { TEST_IMAGE } from "./fixtures/podman.js";
import { type ComposeEnv, startComposeEnv } from "./helpers/compose-env.js";
import { makeHome, type TestHome } from "./helpers/home.js";

/**
 * Portable snapshots: a workspace captured from ext.local (bwrap on this
 * machine) restored into ext.compose-ssh on an SSH host (loopback sshd +
 * podman-compose). Runs once ext.compose-ssh declares `capabilities.restore`
 * (see docs/snapshots.md, "Extensions: opting in"); skipped until then.
 */
const compose = await loadExtension("ext.compose-ssh").catch(() => null);
const ready = Boolean(compose?.capabilities.restore);

describe.skipIf(!ready)("snapshots: ext.local -> ext.compose-ssh over SSH", { timeout: 240_000 }, () => {
  let f: ComposeEnv;
  let home: TestHome;
  let broker: Broker;

  beforeAll(async () => {
    f = await startComposeEnv();
    home = makeHome(f.env);
    broker = home.broker();
  });
  afterAll(async () => {
    await home?.cleanup();
    await f?.stop();
  });

  it("restores a local workspace into a compose stack on another host, files intact", async () => {
    // The local sandbox starts from the compose repo, so its snapshot carries a runnable stack.
    const local = await broker.create({ profile: "profile.local", inputs: { repo: f.repo } });
    const r = await broker.exec(local.id, ["sh", "-c", "mkdir -p data && echo 'made in bwrap' > data/note.txt"], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(r.exitCode, r.stderr).toBe(0);
    const snap = await broker.snapshot(local.id);
    await broker.destroy(local.id);

    const restored = await broker.restore(snap.id, { profile: "profile.compose-test", inputs: { repo: f.repo }, host: "sbx-test-host" });
    expect(restored).toMatchObject({ state: "ready", extension: "ext.compose-ssh", host: "sbx-test-host" });
    const workspace = join(f.workspaceRoot("sbx-test-host"), restored.id);
    expect(readFileSync(join(workspace, "data", "note.txt"), "utf8")).toBe("made in bwrap\n");
    expect(f.containersOf(restored.id).length).toBeGreaterThan(0);
    expect((await broker.events({ sandboxId: restored.id })).map((e) => e.type)).toContain("snapshot.restored");

    // And back: the compose workspace snapshots over the same SSH connection.
    const back = await broker.snapshot(restored.id);
    expect(back.extension).toBe("ext.compose-ssh");
    await broker.destroy(restored.id);
    const again = await broker.restore(back.id, { profile: "profile.local", inputs: {} });
    const out = await broker.exec(again.id, ["cat", "data/note.txt"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    expect(out.stdout).toBe("made in bwrap\n");
  });

  it("a compose snapshot carries the stack's named volumes, and restore brings them back", async () => {
    const stack = [
      "services:",
      "  keeper:",
      `    image: ${TEST_IMAGE}`,
      // The first start seeds the volume with a unique value; a restored volume must keep it.
      `    command: ["sh", "-c", "[ -f /data/seed ] || cat /proc/sys/kernel/random/uuid > /data/seed; sleep 3600"]`,
      '    volumes: ["state:/data"]',
      "volumes:",
      "  state: {}",
      "",
    ].join("\n");
    const repo = f.writeRepo("with-volume", stack);
    const first = await broker.create({ profile: "profile.compose-test", inputs: { repo }, host: "sbx-test-host" });
    const read = (id: string) => {
      const [name] = f.containersOf(id);
      return f.podman.podman(["exec", name as string, "cat", "/data/seed"]).trim();
    };
    let seed = "";
    for (let i = 0; i < 50 && !seed; i++) {
      try {
        seed = read(first.id);
      } catch {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    expect(seed).toMatch(/^[0-9a-f-]{36}$/);
    const snap = await broker.snapshot(first.id);
    // The export lives only inside the archive, not in the live workspace.
    expect(existsSync(join(f.workspaceRoot("sbx-test-host"), first.id, ".sandboxer", "volumes"))).toBe(false);
    await broker.destroy(first.id);
    expect(f.podman.podman(["volume", "ls", "-q"]).split("\n")).not.toContain(`${first.id}_state`);

    const restored = await broker.restore(snap.id, { host: "sbx-test-host2" });
    expect(restored).toMatchObject({ state: "ready", host: "sbx-test-host2" });
    expect(read(restored.id)).toBe(seed);
    await broker.destroy(restored.id);
    expect(f.podman.podman(["volume", "ls", "-q"]).split("\n")).not.toContain(`${restored.id}_state`);
  });
});
