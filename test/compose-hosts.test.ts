import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Broker } from "../src/broker.js";
import { type ComposeEnv, startComposeEnv } from "./helpers/compose-env.js";
import { makeHome, type TestHome } from "./helpers/home.js";
import { walkTo } from "./helpers/store.js";
import { buildPrivateCli, type PrivateCli } from "./helpers/private-cli.js";

// Real sshd + podman-compose through the built CLI on two shared cores: generous limits, no timing assertions.

/** The id of the sandbox being provisioned once its stack is coming up on the host (a labelled container exists). */
async function stackComingUp(f: ComposeEnv, broker: Broker): Promise<string | undefined> {
  for (let i = 0; i < 600; i++) {
    await new Promise((r) => setTimeout(r, 200));
    const rec = (await broker.list({ states: ["provisioning"] }))[0];
    if (rec && f.containersOf(rec.id).length) return rec.id;
  }
  return undefined;
}

describe("hosts: inspect host, inspect stale, reap-stale, kill -9 during up", { timeout: 300_000 }, () => {
  let f: ComposeEnv;
  let home: TestHome;
  let cli: PrivateCli;
  const runCli: PrivateCli["run"] = (...a) => cli.run(...a);
  beforeAll(async () => {
    cli = await buildPrivateCli();
    f = await startComposeEnv();
    home = makeHome(f.env);
  });
  afterAll(async () => {
    await home?.cleanup();
    await f?.stop();
    cli?.cleanup();
  });

  it("inspect host reports facts for a reachable host and a reason for a down one", async () => {
    const up = await runCli(["inspect", "host", "sbx-test-host", "--json"], home.env);
    expect(up.code).toBe(0);
    const r = up.json<{ reachable: boolean; facts: Record<string, unknown>; workspaceRoot: string }>();
    expect(r.reachable).toBe(true);
    expect(r.facts.kernel).toBeTruthy();
    expect(String(r.facts.compose)).toMatch(/podman-compose/);
    expect(String(r.facts.runtime)).toMatch(/podman version/);
    expect(Number(r.facts.diskFreeBytes)).toBeGreaterThan(0);
    const down = await runCli(["inspect", "host", "sbx-down", "--json"], home.env);
    expect(down.code).toBe(1);
    expect(down.json<{ reachable: boolean; error: string }>()).toMatchObject({ reachable: false, error: expect.stringMatching(/unreachable|refused/i) });
    const all = await runCli(["inspect", "host"], home.env);
    expect(all.stdout).toMatch(/sbx-test-host\s+yes/);
    expect(all.stdout).toMatch(/sbx-down\s+NO/);
    const bad = await runCli(["inspect", "host", "nope", "--json"], home.env);
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stderr).error.code).toBe("SBX_HOST_NOT_FOUND");
  });

  it("inspect stale finds orphans and ghosts; reap-stale is a dry run until --apply", async () => {
    const create = async () => {
      const r = await runCli(["create", "--profile", "profile.compose-test", "--input", `repo=${f.repo}`, "--json"], home.env, { timeoutMs: 240_000 });
      expect(r.code, r.stderr).toBe(0);
      return r.json<{ id: string; reachability: { workspace: string } }>();
    };
    const orphan = await create();
    const ghost = await create();
    const broker = home.broker();
    // Lost record: the store says destroyed, the host still runs the stack.
    await walkTo(home.env, orphan.id, "destroyed", { destroyedAt: new Date().toISOString(), reason: "user" });
    // Vanished resources: the record says ready, the host has nothing.
    f.podman.podman(["rm", "-f", "-t", "0", ...f.containersOf(ghost.id)]);
    rmSync(ghost.reachability.workspace, { recursive: true, force: true });

    const stale = await runCli(["inspect", "stale", "--host", "sbx-test-host", "--json"], home.env);
    expect(stale.code, stale.stderr).toBe(0);
    const report = stale.json<{ orphans: { sandboxId: string; kind: string }[]; ghosts: { id: string }[] }>();
    const kinds = report.orphans.filter((o) => o.sandboxId === orphan.id).map((o) => o.kind);
    expect(kinds).toEqual(expect.arrayContaining(["container", "directory"]));
    expect(report.ghosts.map((g) => g.id)).toContain(ghost.id);

    const dry = await runCli(["reap-stale", "--host", "sbx-test-host"], home.env);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain("dry run");
    expect(f.containersOf(orphan.id).length).toBe(2);

    const apply = await runCli(["reap-stale", "--apply", "--host", "sbx-test-host", "--json"], home.env, { timeoutMs: 240_000 });
    expect(apply.code, apply.stderr).toBe(0);
    const done = apply.json<{ removed: { sandboxId: string }[]; closed: { id: string }[] }>();
    expect(done.removed.map((x) => x.sandboxId)).toContain(orphan.id);
    expect(done.closed.map((x) => x.id)).toContain(ghost.id);
    expect(f.containersOf(orphan.id)).toEqual([]);
    expect(existsSync(orphan.reachability.workspace)).toBe(false);
    expect(await broker.get(ghost.id)).toMatchObject({ state: "destroyed", reason: "reap" });
    const again = await runCli(["inspect", "stale", "--host", "sbx-test-host"], home.env);
    expect(again.stdout).toContain("nothing stale");
  });

  it("kill -9 of the CLI during `up`: reconcile leaves nothing running without a record", async () => {
    const child = cli.spawn(["create", "--profile", "profile.compose-test", "--input", `repo=${f.repo}`, "--json"], home.env);
    const broker = home.broker();
    // Wait until the stack is coming up on the host (a labelled container exists), then kill the CLI.
    const id = await stackComingUp(f, broker);
    expect(id).toBeDefined();
    child.kill("SIGKILL");
    await new Promise((r) => child.once("close", r));
    const rec = await runCli(["reconcile", "--json"], home.env, { timeoutMs: 240_000 });
    expect(rec.code, rec.stderr).toBe(0);
    const sb = await broker.get(id as string);
    expect(sb.state).toBe("failed");
    expect(sb.error?.code).toBe("SBX_CANCELLED");
    // The interrupted `up` may still have been creating containers: they must all be gone.
    expect(f.containersOf(id as string)).toEqual([]);
    expect(existsSync(join(f.workspaceRoot("sbx-test-host"), id as string))).toBe(false);
  });

  it("host down mid-create: the record keeps what it could not remove, reconcile finishes once the host is back", async () => {
    const broker = home.broker();
    const repo = f.writeRepo(
      "slow",
      `services:\n  app:\n    image: ${f.podman.image}\n    command: ["sleep", "3600"]\n    healthcheck:\n      test: ["CMD", "false"]\n      interval: 1s\n`,
    );
    const creating = broker.create({ profile: "profile.compose-short", inputs: { repo } }).then(
      () => null,
      (e: unknown) => e as { code: string; message: string; details: { id: string } },
    );
    const id = await stackComingUp(f, broker);
    expect(id).toBeDefined();
    await f.host1.kill();
    const err = await creating;
    expect(err).not.toBeNull();
    const failed = await broker.get(id as string);
    expect(failed.state).toBe("failed");
    expect(failed.destroyedAt).toBeNull();
    expect(failed.error?.message).toMatch(/teardown also failed/);
    expect(f.containersOf(id as string).length).toBeGreaterThan(0);
    await f.host1.restart();
    const rec = await broker.reconcile();
    expect(rec.errors).toEqual([]);
    expect((await broker.get(id as string)).destroyedAt).not.toBeNull();
    expect(f.containersOf(id as string)).toEqual([]);
    await broker.close();
  });
});
