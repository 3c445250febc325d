/**
 * One suite for every metered vendor (the extensions on defineMeteredExtension),
 * each against its local wire-contract fake: the vendor answering 401, 429 or
 * 500 at create, a create whose answer comes too late, wrong and missing
 * credentials, and a sandbox killed on the vendor's side (exec, reconcile,
 * destroy). Use from a `*.test.ts` with an adapter that speaks the fake:
 *
 *   testVendor({ name: "ext.e2b", vendor: "e2b", start: async () => adapterOverTheFake });
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Broker, CreateRequest } from "../src/broker.js";
import type { Env } from "../src/config.js";
import { SandboxerError } from "../src/errors.js";
import type { Sandbox } from "../src/types.js";
import { runCli } from "./helpers/cli.js";
import type { TestHome } from "./helpers/home.js";

/** What the suite asks of a vendor's fake. */
export interface VendorAdapter {
  /** A funded home whose environment talks to the fake (credentials, short request timeouts). */
  home(extra?: Env): Promise<TestHome>;
  /** The next create is answered with this HTTP status (or the vendor's equivalent, e.g. a gRPC code). */
  failCreate(status: 401 | 429 | 500): void;
  /** The next create does its work but answers after `ms` (past the request timeout). */
  slowCreate(ms: number): void;
  /** Forget injected faults (some SDKs retry transient ones). */
  clearFaults?(): void;
  /** Remote sandboxes carrying this sandboxerId that still run. */
  liveOf(sandboxerId: string): unknown[];
  /** End a remote sandbox as the vendor would (its dashboard, its timeout). */
  killRemote(remoteId: string): Promise<void>;
  /** Environment overrides with credentials the vendor rejects. */
  wrongCredentials: Env;
  /** The variable a missing credential is named by. */
  credentialVar: string;
  /** Whether the wrong credentials reached the vendor as its SDK sends them (header, metadata). */
  sawCredentials?(wrong: Env): boolean;
  close(): Promise<void>;
}

export interface VendorSuite {
  name: string;
  /** The vendor as named in messages ("e2b"). */
  vendor: string;
  request: CreateRequest;
  start(): Promise<VendorAdapter>;
  /** What exec says about a sandbox the vendor no longer runs. */
  gone: RegExp;
  skip?: { reason: string; tests: VendorTest[] }[];
}

export type VendorTest = "statuses" | "timeout" | "credentials" | "killed";

const PIPE = { stdin: "ignore", stdout: "pipe", stderr: "pipe" } as const;
const remoteOf = (sb: Sandbox) =>
  String((sb.reachability as { sandboxId?: unknown; remoteId?: unknown }).sandboxId ?? (sb.reachability as { remoteId?: unknown }).remoteId);

async function createFails(broker: Broker, req: CreateRequest): Promise<SandboxerError> {
  const err = await broker.create(req).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(SandboxerError);
  return err as SandboxerError;
}

export function testVendor(s: VendorSuite): void {
  const skipped = (t: VendorTest) => (s.skip ?? []).some((x) => x.tests.includes(t));
  describe(`vendor contract: ${s.name}`, () => {
    let v: VendorAdapter;
    let home: TestHome;

    beforeAll(async () => {
      v = await s.start();
      home = await v.home();
    });
    afterAll(async () => {
      await home?.cleanup();
      await v?.close();
    });

    it.skipIf(skipped("statuses")).each([
      [401, /credentials rejected \(401\)/],
      [429, /rate limited \(429\)/],
      [500, /server error \(500\)/],
    ] as const)("the vendor answers %i at create: a clear error, the record failed, nothing left remote", async (status, pattern) => {
      const broker = home.broker();
      v.failCreate(status);
      const err = await createFails(broker, s.request);
      v.clearFaults?.();
      expect(err.code).toBe("SBX_PROVISION_FAILED");
      expect(err.message).toMatch(pattern);
      expect(err.message).toMatch(new RegExp(`^sbx-[a-z2-7]{12}: ${s.vendor} create: `));
      const id = err.details?.id as string;
      const failed = await broker.get(id);
      expect(failed.state).toBe("failed");
      expect(failed.destroyedAt).not.toBeNull();
      expect(v.liveOf(id)).toEqual([]);
    });

    it.skipIf(skipped("timeout"))(
      "the create's answer never comes in time: teardown finds the remote sandbox by its sandboxerId tag and removes it",
      async () => {
        const broker = home.broker();
        v.slowCreate(4000);
        const err = await createFails(broker, s.request);
        v.clearFaults?.();
        expect(err.code).toBe("SBX_PROVISION_FAILED");
        expect(err.message).toMatch(/no answer in time \(timeout\)/);
        const id = err.details?.id as string;
        // The vendor made the sandbox before answering late: the tag sweep must have removed it.
        await expect.poll(() => v.liveOf(id), { timeout: 10_000 }).toEqual([]);
        expect((await broker.get(id)).state).toBe("failed");
      },
    );

    it.skipIf(skipped("credentials"))("wrong credentials are a clear 401; missing ones name the variable", async () => {
      const wrong = await v.home(v.wrongCredentials);
      try {
        const err = await createFails(wrong.broker(), s.request);
        expect(err.message).toMatch(/credentials rejected \(401\)/);
        if (v.sawCredentials) expect(v.sawCredentials(v.wrongCredentials)).toBe(true);
      } finally {
        await wrong.cleanup();
      }
      const bare = await v.home({ [v.credentialVar]: "" });
      try {
        const err = await createFails(bare.broker(), s.request);
        expect(err.code).toBe("SBX_DEPENDENCY_MISSING");
        expect(err.message).toMatch(new RegExp(`${v.credentialVar} is not set`));
      } finally {
        await bare.cleanup();
      }
    });

    it.skipIf(skipped("killed"))(
      "a sandbox killed on the vendor's side: exec says so (exit 4), reconcile closes the record, destroy is idempotent",
      async () => {
        const broker = home.broker();
        const sb = await broker.create(s.request);
        await v.killRemote(remoteOf(sb));
        const err = await broker.exec(sb.id, ["true"], PIPE).catch((e: unknown) => e);
        expect(err).toMatchObject({ code: "SBX_INVALID_STATE", message: expect.stringMatching(s.gone) });
        const cli = await runCli(["exec", sb.id, "--json", "--", "true"], home.env);
        expect(cli.code).toBe(4);
        expect(JSON.parse(cli.stderr)).toMatchObject({ error: { code: "SBX_INVALID_STATE" } });
        expect((await broker.destroy(sb.id)).state).toBe("destroyed");

        // Killed while nobody looks: deep reconcile asks the vendor (alive) and closes the record.
        const other = await broker.create(s.request);
        await v.killRemote(remoteOf(other));
        const report = await broker.reconcile({ deep: true });
        expect(report.actions).toContainEqual(expect.objectContaining({ id: other.id, to: "destroyed" }));
        expect(await broker.get(other.id)).toMatchObject({ state: "destroyed", reason: "reap" });
      },
    );
  });
}
