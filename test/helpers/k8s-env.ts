import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type K8sFake, type K8sFakeOptions, startK8sFake } from "../fakes/k8s/server.js";
import { makeHome, type TestHome } from "./home.js";

/** The cluster entry most tests use: one shared namespace on the fake. */
export const CLUSTER_CONFIG = "hosts:\n  kind: { cluster: { namespace: sandboxes }, maxSandboxes: 50 }\n";

export interface K8sEnv {
  fake: K8sFake;
  home: TestHome;
  kubeconfig: string;
  /** Replace the config file (hosts inventory). */
  config(yaml: string): void;
  /** Add a profile under SANDBOXER_PROFILES_DIR. */
  profile(id: string, yaml: string): void;
  /** The template and warm pool profile.k8s-pool claims from. */
  pool(replicas: number, name?: string): void;
  cleanup(): Promise<void>;
}

/** A fake API server, a kubeconfig pointing at it, and a home whose inventory has the cluster `kind`. */
export async function startK8sEnv(opts: { fake?: K8sFakeOptions; config?: string } = {}): Promise<K8sEnv> {
  const fake = await startK8sFake(opts.fake);
  const home = makeHome();
  const kubeconfig = fake.kubeconfig(join(home.dir, "kubeconfig"), { namespace: "default" });
  const profiles = join(home.dir, "profiles");
  mkdirSync(profiles, { recursive: true });
  Object.assign(home.env, { KUBECONFIG: kubeconfig, SANDBOXER_PROFILES_DIR: profiles });
  const config = (yaml: string) => writeFileSync(home.env.SANDBOXER_CONFIG as string, yaml);
  config(opts.config ?? CLUSTER_CONFIG);
  return {
    fake,
    home,
    kubeconfig,
    config,
    profile: (id, yaml) => writeFileSync(join(profiles, `${id}.yaml`), yaml),
    pool(replicas, name = "sandboxer-agents") {
      fake.apply("sandboxtemplates", "sandboxes", `${name}-tpl`, {
        podTemplate: { spec: { containers: [{ name: "agent", image: "python:3.12-slim", command: ["sleep", "infinity"] }] } },
      });
      fake.apply("sandboxwarmpools", "sandboxes", name, { replicas, sandboxTemplateRef: { name: `${name}-tpl` } });
    },
    async cleanup() {
      await home.cleanup();
      await fake.close();
    },
  };
}

/** Wait (polling the fake's store, never the client) until `pred` holds. */
export async function until(pred: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
