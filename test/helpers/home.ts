import { mkdtempSync, rmdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Broker, type BrokerOptions, createBroker } from "../../src/broker.js";
import { type Env, resolvePaths } from "../../src/config.js";
import { cgroupHost } from "../../src/extensions/local/limits/cgroups.js";
import { unmountUnder } from "../../src/extensions/local/limits/disk.js";
import { removeSpares } from "../../src/extensions/local/limits/spares.js";

/** A private SANDBOXER_HOME (and config dir) per test, removed afterwards. */
export interface TestHome {
  dir: string;
  env: Env;
  broker(opts?: Omit<BrokerOptions, "env">): Broker;
  cleanup(): Promise<void>;
}

export function makeHome(extraEnv: Env = {}): TestHome {
  const dir = mkdtempSync(join(tmpdir(), "sbx-test-"));
  const env: Env = {
    ...process.env,
    SANDBOXER_HOME: join(dir, "home"),
    SANDBOXER_CONFIG: join(dir, "config.yaml"),
    SANDBOXER_STATE_HUB_URL: "",
    SANDBOXER_HOST: "",
    ...extraEnv,
  };
  const brokers: Broker[] = [];
  return {
    dir,
    env,
    broker(opts = {}) {
      const b = createBroker({ ...opts, env });
      brokers.push(b);
      return b;
    },
    async cleanup() {
      // Tear down anything still live so no process outlives the test.
      const b = createBroker({ env });
      // Warm pool members are hidden from list: drain every pool first (docs/pools.md).
      for (const p of await b.pools().catch(() => [])) await b.drainPool(p.profile).catch(() => {});
      for (const sb of await b.list({ states: ["ready", "failed", "destroy_failed"] })) {
        await b.destroy(sb.id).catch(() => {});
      }
      await b.reconcile().catch(() => {});
      await b.close();
      for (const x of brokers) await x.close().catch(() => {});
      // Spare workspace filesystems stay mounted for the next create (src/extensions/local/limits/spares.ts).
      await removeSpares(resolvePaths(env).run);
      // This home's (now empty) cgroup parents: a server keeps its own for life; tests make one per home.
      for (const p of Object.values(cgroupHost(env.SANDBOXER_HOME as string, env).placements)) {
        try {
          if (p) rmdirSync(p.parent);
        } catch {}
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Remove a directory tree that may hold SANDBOXER_HOMEs: unmount what is
 * mounted below it first (spare workspace filesystems, a workspace a crash
 * left), deepest first, so the delete never fails on a busy mount point.
 */
export async function removeTree(dir: string): Promise<void> {
  await unmountUnder([dir]).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}
