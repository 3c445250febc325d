/**
 * The kill -9 tests (src/faults.ts crash points) as one suite, run on each
 * store: test/core-crash.test.ts (SQLite) and test/core-crash-postgres.test.ts.
 * `extraEnv` gives the store (e.g. SANDBOXER_DATABASE_URL of a fresh database).
 */
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Env } from "../src/config.js";
import { isSandboxArgv } from "../src/extensions/local/bwrap.js";
import { cgroupHost, listCgroups } from "../src/extensions/local/limits/cgroups.js";
import { findProcesses } from "../src/proc.js";
import type { Sandbox, SandboxEvent } from "../src/types.js";
import { runCli, spawnCli } from "./helpers/cli.js";
import { makeHome, type TestHome } from "./helpers/home.js";

export function crashSuite(name: string, store: { env(): Promise<Env>; cleanup?(): Promise<void> } = { env: async () => ({}) }): void {
  let home: TestHome;
  beforeAll(async () => {
    home = makeHome(await store.env());
  });
  afterAll(async () => {
    await home?.cleanup();
    await store.cleanup?.();
  });

  const cli = (...args: string[]) => runCli(args, home.env);
  const all = async () => (await cli("list", "--all", "--json")).json<Sandbox[]>();
  const dirs = (sub: string) => {
    const d = join(home.env.SANDBOXER_HOME as string, sub);
    return existsSync(d) ? readdirSync(d) : [];
  };
  const procs = (id?: string) => findProcesses((a) => isSandboxArgv(a, id) !== null && a.join(" ").includes(home.env.SANDBOXER_HOME as string));

  /** Every record is in a settled state, and resources exist exactly for the ready ones. */
  async function expectTruthful(): Promise<Sandbox[]> {
    const rows = await all();
    for (const sb of rows) {
      expect(["ready", "failed", "destroyed"], `${sb.id} is ${sb.state}`).toContain(sb.state);
      const hasDir = dirs("workspaces").includes(sb.id);
      const hasProc = procs(sb.id).length > 0;
      expect({ id: sb.id, hasDir, hasProc }).toEqual({ id: sb.id, hasDir: sb.state === "ready", hasProc: sb.state === "ready" });
      // Its cgroups too (found by id: a crash may come before anything about them was recorded).
      if (sb.state !== "ready") expect(listCgroups(cgroupHost(home.env.SANDBOXER_HOME as string, home.env)).get(sb.id) ?? [], `${sb.id} cgroups`).toEqual([]);
    }
    const ids = new Set(rows.map((r) => r.id));
    for (const d of dirs("workspaces")) expect(ids.has(d), `workspace ${d} has no record`).toBe(true);
    return rows;
  }

  // Each test runs the CLI several times (up to ~15); on a loaded machine one run can take seconds: the time
  // allowed follows the work, no test asserts a duration.
  describe(`concurrency (${name})`, { timeout: 180_000 }, () => {
    it("30 creates from parallel processes all land as records, none lost", async () => {
      const results = await Promise.all(Array.from({ length: 30 }, (_, i) => cli("create", "--profile", "profile.local", "--project", `p${i % 3}`, "--json")));
      for (const r of results) expect(r.stderr).toBe("");
      const ids = results.map((r) => r.json<Sandbox>().id);
      expect(new Set(ids).size).toBe(30);
      const rows = await all();
      for (const id of ids) expect(rows.find((r) => r.id === id)?.state).toBe("ready");
      const events = (await cli("events", "--json", "--limit", "10000")).json<SandboxEvent[]>();
      for (const id of ids) {
        expect(events.filter((e) => e.sandboxId === id && e.type === "sandbox.ready")).toHaveLength(1);
      }
      const destroyed = await Promise.all(ids.map((id) => cli("destroy", id, "--json")));
      for (const r of destroyed) expect(r.code).toBe(0);
      expect(procs()).toEqual([]);
      await expectTruthful();
    }, 300_000);

    it("two destroys racing on one sandbox: one tears down, the other is told, one destroyed event", async () => {
      const sb = (await cli("create", "--profile", "profile.local", "--json")).json<Sandbox>();
      const [a, b] = await Promise.all([cli("destroy", sb.id), cli("destroy", sb.id)]);
      expect([a.code, b.code].sort()).toEqual(a.code === 0 && b.code === 0 ? [0, 0] : [0, 4]);
      const events = (await cli("events", sb.id, "--json")).json<SandboxEvent[]>();
      expect(events.filter((e) => e.type === "sandbox.destroyed")).toHaveLength(1);
      await expectTruthful();
    });
  });

  describe(`kill -9 at each step, then reconcile (${name})`, { timeout: 180_000 }, () => {
    // ext.local: after its directories, after its cgroups and filesystem, after its process started (none of them
    // checkpointed: teardown finds them all by the sandbox id).
    const points = ["requested", "provisioning", "local-dirs", "local-confined", "local-started", "before-ready"];

    it.each(points)("create killed at %s -> reconcile leaves a failed record and nothing running", async (point) => {
      const r = await runCli(["create", "--profile", "profile.local", "--json"], { ...home.env, SANDBOXER_CRASH_AT: point });
      expect(r.code).not.toBe(0);
      const stuck = (await all()).find((s) => s.state === "requested" || s.state === "provisioning");
      expect(stuck, "the killed create left an in-flight record").toBeTruthy();
      const rec = await cli("reconcile", "--json");
      expect(rec.code).toBe(0);
      const report = rec.json<{ actions: { id: string; to: string }[] }>();
      expect(report.actions).toContainEqual(expect.objectContaining({ id: stuck?.id, to: "failed" }));
      const after = (await cli("get", stuck?.id as string, "--json")).json<Sandbox>();
      expect(after).toMatchObject({ state: "failed", reason: "failed-provision", error: { code: "SBX_CANCELLED" } });
      expect(after.destroyedAt).not.toBeNull();
      await expectTruthful();
    });

    it("destroy killed after `destroying` -> reconcile finishes it", async () => {
      const sb = (await cli("create", "--profile", "profile.local", "--json")).json<Sandbox>();
      const r = await runCli(["destroy", sb.id], { ...home.env, SANDBOXER_CRASH_AT: "destroying" });
      expect(r.code).not.toBe(0);
      expect((await cli("get", sb.id, "--json")).json<Sandbox>().state).toBe("destroying");
      // Any writing command reconciles first: here, another create.
      const other = (await cli("create", "--profile", "profile.local", "--json")).json<Sandbox>();
      expect((await cli("get", sb.id, "--json")).json<Sandbox>()).toMatchObject({ state: "destroyed", reason: "user" });
      await cli("destroy", other.id);
      await expectTruthful();
    });

    // About 15 CLI runs.
    it("kill -9 at arbitrary moments of real creates: the store stays truthful", { timeout: 240_000 }, async () => {
      // The kills spread over a whole create as long as one takes here and now (fixed delays would all land
      // before the CLI has even started on a loaded machine, proving nothing).
      const t0 = performance.now();
      const timing = (await cli("create", "--profile", "profile.local", "--json")).json<Sandbox>();
      const full = performance.now() - t0;
      await cli("destroy", timing.id);
      for (const at of [0.05, 0.25, 0.45, 0.6, 0.75, 0.9]) {
        const child = spawnCli(["create", "--profile", "profile.local", "--json"], home.env);
        const closed = new Promise((r) => child.on("close", r));
        await new Promise((r) => setTimeout(r, full * at));
        child.kill("SIGKILL");
        await closed;
      }
      await cli("reconcile");
      const rows = await expectTruthful();
      await Promise.all(rows.filter((s) => s.state === "ready").map((sb) => cli("destroy", sb.id)));
      await expectTruthful();
    });

    it("a create's own reconcile frees the place a killed create held, and the create gets it", async () => {
      // One sandbox per host: the killed create's record holds the only place while it is in flight.
      const config = home.env.SANDBOXER_CONFIG as string;
      writeFileSync(config, "hosts:\n  localhost: { labels: [local], maxSandboxes: 1 }\n");
      try {
        const r = await runCli(["create", "--profile", "profile.local", "--json"], { ...home.env, SANDBOXER_CRASH_AT: "provisioning" });
        expect(r.code).not.toBe(0);
        const stuck = (await all()).find((s) => s.state === "provisioning");
        expect(stuck, "the killed create left an in-flight record").toBeTruthy();
        // Its reconcile runs beside the plan's reads and fails the crashed record; whichever ends first, the
        // create gets the room (a plan that may have counted the record is made again).
        const next = await cli("create", "--profile", "profile.local", "--json");
        expect(next.stderr).toBe("");
        expect(next.json<Sandbox>().state).toBe("ready");
        expect((await cli("get", stuck?.id as string, "--json")).json<Sandbox>()).toMatchObject({ state: "failed", reason: "failed-provision" });
        await cli("destroy", next.json<Sandbox>().id);
      } finally {
        rmSync(config, { force: true });
      }
      await expectTruthful();
    });

    it("a sandbox whose init vanished is closed by reconcile", async () => {
      const sb = (await cli("create", "--profile", "profile.local", "--json")).json<Sandbox>();
      for (const pid of procs(sb.id)) process.kill(pid, "SIGKILL");
      await new Promise((r) => setTimeout(r, 100));
      const report = (await cli("reconcile", "--json")).json<{ actions: { id: string; to: string }[] }>();
      expect(report.actions).toContainEqual(expect.objectContaining({ id: sb.id, to: "destroyed" }));
      expect((await cli("get", sb.id, "--json")).json<Sandbox>()).toMatchObject({ state: "destroyed", reason: "reap" });
      await expectTruthful();
    });
  });
}
