/**
 * One contract suite for every extension (STYLE.md #3): provision -> ready ->
 * declarations and handle -> exec and its cancel (when the extension declares them) -> teardown
 * -> teardown again -> stale detection, on the real component. Extensions from
 * a registration's `module:` run it too (test/ext-scratch.test.ts).
 * Use from a `*.test.ts`:
 *
 *   testExtension({ name: "ext.local", make: async () => ({ home, request: { profile: "profile.local" } }) });
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { Broker, CreateRequest } from "../src/broker.js";
import { contextFor } from "../src/broker/internal.js";
import { definitionProblems } from "../src/extensions/check.js";
import { EXEC_CAPTURE_LIMIT } from "../src/extensions/exec-process.js";
import type { Sandbox } from "../src/types.js";
import type { TestHome } from "./helpers/home.js";
import { walkTo } from "./helpers/store.js";

/** `alive-after-teardown`: skip only the "alive is false after destroy" check (a build's image outlives its record). */
export type ContractTest = "provision" | "teardown" | "teardown-again" | "stale" | "alive" | "exec" | "alive-after-teardown";

export interface ContractSetup {
  home: TestHome;
  request: CreateRequest;
  /** Extra cleanup (servers, fixtures); the home is cleaned by the suite. */
  cleanup?: () => Promise<void>;
}

export interface ContractOptions {
  name: string;
  make: () => Promise<ContractSetup>;
  skip?: { reason: string; tests: ContractTest[] }[];
}

function skipped(opts: ContractOptions, t: ContractTest): boolean {
  return (opts.skip ?? []).some((s) => s.tests.includes(t));
}

async function directContext(broker: Broker, sb: Sandbox) {
  return contextFor(broker, sb.id);
}

/** The extension as the broker loaded it (built in, or from its registration's module). */
async function extensionOf(broker: Broker, sb: Sandbox) {
  return (await contextFor(broker, sb.id)).extension;
}

export function testExtension(opts: ContractOptions): void {
  describe(`extension contract: ${opts.name}`, () => {
    let setup: ContractSetup;
    let broker: Broker;
    let sb: Sandbox;

    beforeAll(async () => {
      setup = await opts.make();
      broker = setup.home.broker();
    });
    afterAll(async () => {
      await setup?.home.cleanup();
      await setup?.cleanup?.();
    });

    it.skipIf(skipped(opts, "provision"))("provisions to ready with reachability and a route", async () => {
      sb = await broker.create(setup.request);
      expect(sb.state).toBe("ready");
      expect(sb.id).toMatch(/^sbx-[a-z2-7]{12}$/);
      expect(sb.extension).toBe(opts.name);
      expect(sb.readyAt).not.toBeNull();
      expect(sb.reachability).toBeTruthy();
      expect(sb.route?.chosen).toBe(opts.name);
      const types = (await broker.events({ sandboxId: sb.id })).map((e) => e.type);
      expect(types).toEqual(expect.arrayContaining(["sandbox.requested", "sandbox.provisioning", "sandbox.ready"]));
    });

    it.skipIf(skipped(opts, "provision"))("declares what it implements, and its stored handle parses with its own handle schema", async () => {
      const { row, extension: ext } = await directContext(broker, sb);
      expect(definitionProblems(ext)).toEqual([]);
      expect(ext.handle.safeParse(row.handle).success).toBe(true);
    });

    it.skipIf(skipped(opts, "alive"))("reports its resources alive, and lists them labelled with the id", async () => {
      const { row, ctx, extension: ext } = await directContext(broker, sb);
      if (ext.alive) expect(await ext.alive(ctx, row.handle ?? {})).toBe(true);
      if (ext.list) expect((await ext.list(ctx)).map((r) => r.sandboxId)).toContain(sb.id);
    });

    it.skipIf(skipped(opts, "exec"))("exec (if declared): argv arrives intact, stdout and stderr apart, the command's exit code", async () => {
      const ext = await extensionOf(broker, sb);
      const pipe = { stdin: "ignore", stdout: "pipe", stderr: "pipe" } as const;
      if (!ext.capabilities.exec) {
        await expect(broker.exec(sb.id, ["true"], pipe)).rejects.toMatchObject({ code: "SBX_UNSUPPORTED" });
        return;
      }
      const r = await broker.exec(sb.id, ["sh", "-c", 'echo out; echo "$1" >&2; exit 3', "sh", "it's $HOME; `x`"], pipe);
      expect(r).toMatchObject({ exitCode: 3, stdout: "out\n", stderr: "it's $HOME; `x`\n" });
      expect(r.truncated ?? false).toBe(false);
      await expect(broker.exec(sb.id, [], pipe)).rejects.toMatchObject({ code: "SBX_USAGE" });
      // Captured output is capped (8 MiB a stream) and says so; the command still runs to its end.
      const big = await broker.exec(sb.id, ["sh", "-c", `head -c ${EXEC_CAPTURE_LIMIT + 1000} /dev/zero | tr '\\0' y; echo done >&2`], pipe);
      expect([big.exitCode, big.truncated, big.stdout?.length, big.stderr]).toEqual([0, true, EXEC_CAPTURE_LIMIT, "done\n"]);
    });

    it.skipIf(skipped(opts, "exec"))("exec cancel (if declared): the caller's signal kills the command's whole group; exit 130, cancelled", async () => {
      const ext = await extensionOf(broker, sb);
      if (!ext.capabilities.exec || !(ext.sandboxCommand || ext.capabilities.execCancel)) return;
      const pipe = { stdin: "ignore", stdout: "pipe", stderr: "pipe" } as const;
      // In the working directory: the one place every backend lets a command write.
      const pidFile = `.sbx-cancel-${randomBytes(4).toString("hex")}`;
      const ac = new AbortController();
      // A shell that records its pid, then waits on children of its own: the kill must reach them all.
      const running = broker.exec(sb.id, ["sh", "-c", 'echo $$ > "$1"; while :; do sleep 1; done', "sh", pidFile], pipe, { signal: ac.signal });
      const pid = await vi.waitFor(
        async () => {
          const r = await broker.exec(sb.id, ["cat", pidFile], pipe);
          const p = r.stdout?.trim();
          if (r.exitCode !== 0 || !p) throw new Error("the command has not started yet");
          return p;
        },
        { timeout: 60_000, interval: 200 },
      );
      ac.abort();
      expect(await running).toMatchObject({ exitCode: 130, cancelled: true });
      const alive = async () => (await broker.exec(sb.id, ["sh", "-c", 'kill -0 "$1" 2>/dev/null', "sh", pid], pipe)).exitCode === 0;
      await vi.waitFor(async () => expect(await alive()).toBe(false), { timeout: 30_000, interval: 200 });
      // A signal aborted before the call: nothing starts.
      await expect(broker.exec(sb.id, ["true"], pipe, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: "SBX_CANCELLED" });
      await broker.exec(sb.id, ["rm", "-f", "--", pidFile], pipe);
    });

    it.skipIf(skipped(opts, "stale"))(
      "stale detection: a resource whose record is gone shows as an orphan, wherever the extension says its resources live",
      async () => {
        const ext = await extensionOf(broker, sb);
        if (!ext.list) return;
        const extra = await broker.create(setup.request);
        // Simulate a lost record: the backend still has the resource, the store says destroyed.
        await walkTo(setup.home.env, extra.id, "destroyed", { destroyedAt: new Date().toISOString(), reason: "user" });
        const report = await broker.reconcile({ deep: true });
        const { row, ctx } = await directContext(broker, extra);
        const listed = (await ext.list(ctx)).map((r) => r.sandboxId);
        expect(listed).toContain(extra.id);
        // Deep reconcile scans every place the extensions declare (hosts, clusters, accounts, VMs), naming none.
        expect(report.orphans.filter((o) => o.extension === opts.name).map((o) => o.sandboxId)).toContain(extra.id);
        await ext.teardown(ctx, row.handle);
        expect((await ext.list(ctx)).map((r) => r.sandboxId)).not.toContain(extra.id);
      },
    );

    it.skipIf(skipped(opts, "teardown"))("tears down: record destroyed, resources gone", async () => {
      const done = await broker.destroy(sb.id);
      expect(done.state).toBe("destroyed");
      expect(done.reason).toBe("user");
      expect(done.destroyedAt).not.toBeNull();
      const { row, ctx, extension: ext } = await directContext(broker, sb);
      if (ext.alive && row.handle && !skipped(opts, "alive-after-teardown")) expect(await ext.alive(ctx, row.handle)).toBe(false);
      if (ext.list) expect((await ext.list(ctx)).map((r) => r.sandboxId)).not.toContain(sb.id);
    });

    it.skipIf(skipped(opts, "teardown-again"))("teardown is idempotent (twice, and with no handle)", async () => {
      const { row, ctx, extension: ext } = await directContext(broker, sb);
      await ext.teardown(ctx, row.handle);
      await ext.teardown(ctx, null);
      const again = await broker.destroy(sb.id);
      expect(again.state).toBe("destroyed");
    });
  });
}
