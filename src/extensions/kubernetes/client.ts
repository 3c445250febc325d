/**
 * The cluster client: @kubernetes/client-node (loaded only when a cluster is
 * touched), configured as kubectl is: the files in `KUBECONFIG` (merged, the
 * first file's current context wins), else ~/.kube/config, else the pod's own
 * service account (in-cluster). The inventory's `context` picks the context.
 * Read from the broker's env, not process.env, so a server can point
 * different homes at different clusters. Cached per config and context.
 */
import { existsSync, statSync } from "node:fs";
import { delimiter, join } from "node:path";
import type { Env } from "../../config.js";
import { SandboxerError } from "../../errors.js";
import type { ClusterTarget } from "../../types.js";

type Sdk = typeof import("@kubernetes/client-node");
let sdk: Promise<Sdk> | undefined;
export const loadSdk = (): Promise<Sdk> => {
  sdk ??= import("@kubernetes/client-node");
  return sdk;
};

const SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

export interface Cluster {
  /** The inventory host's name, for messages. */
  name: string;
  server: string;
  /** The context's namespace, the default when the inventory names none. */
  contextNamespace: string | undefined;
  api: InstanceType<Sdk["CustomObjectsApi"]>;
  watch: InstanceType<Sdk["Watch"]>;
  exec: InstanceType<Sdk["Exec"]>;
}

const cache = new Map<string, Promise<Cluster>>();

function sources(env: Env): { files: string[]; inCluster: boolean } {
  const listed = (env.KUBECONFIG ?? "").split(delimiter).filter(Boolean);
  if (listed.length) return { files: listed, inCluster: false };
  const home = env.HOME ? join(env.HOME, ".kube", "config") : undefined;
  if (home && existsSync(home)) return { files: [home], inCluster: false };
  return { files: [], inCluster: Boolean(env.KUBERNETES_SERVICE_HOST) && existsSync(SERVICE_ACCOUNT_TOKEN) };
}

/** The client for one inventory cluster; a kubeconfig edited on disk is read again. */
export function clusterClient(env: Env, hostName: string, target: ClusterTarget): Promise<Cluster> {
  const src = sources(env);
  const stamp = src.files.map((f) => `${f}@${existsSync(f) ? statSync(f).mtimeMs : "missing"}`).join(",");
  const key = `${stamp}|${src.inCluster}|${target.context ?? ""}|${hostName}`;
  let hit = cache.get(key);
  if (!hit) {
    hit = build(hostName, target, src);
    // A failure (missing file, unknown context) is reported again next time, not cached.
    hit.catch(() => cache.delete(key));
    cache.set(key, hit);
  }
  return hit;
}

async function build(name: string, target: ClusterTarget, src: { files: string[]; inCluster: boolean }): Promise<Cluster> {
  const k8s = await loadSdk();
  const kc = new k8s.KubeConfig();
  if (src.files.length) {
    for (const [i, file] of src.files.entries()) {
      if (!existsSync(file)) throw new SandboxerError("SBX_DEPENDENCY_MISSING", `cluster '${name}': kubeconfig ${file} does not exist (KUBECONFIG)`);
      const part = i === 0 ? kc : new k8s.KubeConfig();
      try {
        part.loadFromFile(file);
      } catch (err) {
        throw new SandboxerError("SBX_CONFIG_INVALID", `cluster '${name}': kubeconfig ${file}: ${(err as Error).message.split("\n")[0]}`, { cause: err });
      }
      if (i > 0) kc.mergeConfig(part, true);
    }
  } else if (src.inCluster) {
    kc.loadFromCluster();
  } else {
    throw new SandboxerError(
      "SBX_DEPENDENCY_MISSING",
      `cluster '${name}': no kubeconfig: set KUBECONFIG, write ~/.kube/config, or run the broker in a pod with a service account (docs/kubernetes.md)`,
    );
  }
  if (target.context) {
    if (!kc.getContextObject(target.context)) {
      throw new SandboxerError(
        "SBX_CONFIG_INVALID",
        `cluster '${name}': context '${target.context}' is not in the kubeconfig (${src.files.join(", ") || "in-cluster"}); contexts: ${kc
          .getContexts()
          .map((c) => c.name)
          .join(", ")}`,
        {
          details: { field: `hosts.${name}.cluster.context` },
        },
      );
    }
    kc.setCurrentContext(target.context);
  }
  const current = kc.getCurrentCluster();
  if (!current) throw new SandboxerError("SBX_CONFIG_INVALID", `cluster '${name}': the kubeconfig's context '${kc.getCurrentContext()}' names no cluster`);
  return {
    name,
    server: current.server,
    contextNamespace: kc.getContextObject(kc.getCurrentContext())?.namespace,
    api: kc.makeApiClient(k8s.CustomObjectsApi),
    watch: new k8s.Watch(kc),
    exec: new k8s.Exec(kc),
  };
}
