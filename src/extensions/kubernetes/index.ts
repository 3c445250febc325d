import { crashPoint } from "../../faults.js";
import type { Host, JsonObject } from "../../types.js";
import { type BackendResource, defineExtension, type ExecIo, type ExecOptions, type ExtensionContext } from "../define.js";
import { timedExec } from "../timed-exec.js";
import { type Cluster, clusterClient } from "./client.js";
import { apiError, isNotFound, statusOf } from "./errors.js";
import { execInPod } from "./exec.js";
import { buildObject, ID_LABEL, inputs, type K8sHandle, k8sHandle, KINDS, type Kind, parseSettings, shutdownTimeOf } from "./objects.js";
import { type KObject, readiness, untilReady } from "./ready.js";
import { clusterOf, namespaceFor, namespacesOf } from "./target.js";

/**
 * Sandboxes on a Kubernetes cluster with kubernetes-sigs/agent-sandbox: a
 * `Sandbox` from the profile's pod template, or a `SandboxClaim` on a warm
 * pool, named after the sandbox id and labelled `sandboxer.id`. The placement
 * host is an inventory entry with a `cluster` (context, namespace); nothing
 * goes over SSH. A create is two API requests: the create, and one watch
 * until Ready. See docs/kubernetes.md.
 */

type Ctx = Pick<ExtensionContext, "env" | "host">;

const PIPE: ExecIo = { stdin: "ignore", stdout: "pipe", stderr: "pipe" };

const client = (ctx: Ctx): Promise<Cluster> => clusterClient(ctx.env, ctx.host.name, clusterOf(ctx.host));

function resourceName(kind: Kind): string {
  return `${KINDS[kind].plural}.${KINDS[kind].group}`;
}

/** Delete one object; gone already (404) or replaced by another with our name (409 on the uid precondition) is done. */
async function remove(c: Cluster, kind: Kind, namespace: string, name: string, uid: string | undefined): Promise<void> {
  try {
    await c.api.deleteNamespacedCustomObject({
      ...KINDS[kind],
      namespace,
      name,
      propagationPolicy: "Background",
      ...(uid ? { body: { preconditions: { uid } } } : {}),
    });
  } catch (err) {
    if (isNotFound(err) || statusOf(err) === 409) return;
    throw apiError(err, { cluster: c.name, server: c.server, verb: "delete", resource: resourceName(kind), namespace }, "SBX_TEARDOWN_FAILED");
  }
}

async function listOurs(c: Cluster, kind: Kind, namespace: string, selector: string): Promise<KObject[]> {
  try {
    const list = (await c.api.listNamespacedCustomObject({ ...KINDS[kind], namespace, labelSelector: selector })) as { items?: KObject[] };
    return list.items ?? [];
  } catch (err) {
    throw apiError(err, { cluster: c.name, server: c.server, verb: "list", resource: resourceName(kind), namespace });
  }
}

/** The pod `exec` reaches: the Sandbox's own, or for a claim the (possibly warm-pool) sandbox it was bound to. */
function podOf(h: K8sHandle, reachability: JsonObject | null): string {
  const pod = reachability?.pod;
  return typeof pod === "string" && pod ? pod : h.name;
}

function reachabilityOf(host: Host, h: K8sHandle, o: KObject): JsonObject {
  const claimed = h.kind === "SandboxClaim" ? (o.status?.sandbox?.name as string | undefined) : undefined;
  const podIPs: string[] = (h.kind === "SandboxClaim" ? o.status?.sandbox?.podIPs : o.status?.podIPs) ?? [];
  return {
    kind: "kubernetes",
    cluster: host.name,
    namespace: h.namespace,
    object: `${h.kind}/${h.name}`,
    pod: claimed ?? h.name,
    podIPs,
    ...(o.status?.nodeName ? { nodeName: o.status.nodeName as string } : {}),
    ...(o.status?.serviceFQDN ? { serviceFQDN: o.status.serviceFQDN as string } : {}),
    exec: `kubectl${host.cluster?.context ? ` --context ${host.cluster.context}` : ""} -n ${h.namespace} exec -it ${claimed ?? h.name} -- sh`,
  };
}

export default defineExtension({
  id: "ext.kubernetes",
  kind: "self-hosted",
  description: "agent-sandbox Sandbox / SandboxClaim objects on a Kubernetes cluster (@kubernetes/client-node)",
  capabilities: { snapshot: false, restore: false, build: false, exec: true, execTimeout: true, execCancel: true, execStdin: true },
  // Clusters of the inventory, through their API server: no shell, no SSH; the create answers for reachability.
  placement: { hosts: ["cluster"], shell: false },
  inputs,
  handle: k8sHandle,

  preflight(_inputs, _env, plan) {
    // A project the cluster has no namespace for is refused before any record exists (the kubeconfig's
    // own namespace only matters when the inventory names none, and then nothing is refused).
    namespaceFor(plan.host, plan.project, undefined);
  },

  async hostFacts(ctx) {
    // A cluster has no kernel or disk of its own to report: its sandboxes are what its API lists.
    return { cluster: { ...clusterOf(ctx.host) } };
  },

  async provision(ctx, input) {
    const settings = parseSettings(ctx.profile.id, ctx.profile.settings);
    const c = await client(ctx);
    const namespace = namespaceFor(ctx.host, ctx.sandbox.project, c.contextNamespace);
    const expiresAt = ctx.sandbox.expiresAt ? new Date(ctx.sandbox.expiresAt) : new Date(ctx.clock.now().getTime() + (ctx.sandbox.ttlSeconds ?? 3600) * 1000);
    const { kind, body } = buildObject(ctx.sandbox, settings, input, shutdownTimeOf(expiresAt));
    ctx.progress(`creating ${kind} ${namespace}/${ctx.sandbox.id} on cluster ${ctx.host.name}`);
    let created: KObject;
    try {
      created = (await c.api.createNamespacedCustomObject({ ...KINDS[kind], namespace, body, fieldValidation: "Strict" })) as KObject;
    } catch (err) {
      throw apiError(err, { cluster: c.name, server: c.server, verb: "create", resource: resourceName(kind), namespace });
    }
    // kill -9 here: the object exists but no handle was stored; reconcile finds it by its sandboxer.id label.
    crashPoint("k8s-created");
    const handle: K8sHandle = {
      kind,
      cluster: ctx.host.name,
      namespace,
      name: ctx.sandbox.id,
      uid: created.metadata?.uid ?? "",
      resourceVersion: created.metadata?.resourceVersion ?? "",
      ...(settings.container ? { container: settings.container } : {}),
    };
    await ctx.checkpoint(handle);
    return handle;
  },

  async waitReady(ctx, h) {
    const c = await client(ctx);
    const o = await untilReady(
      { cluster: c, kind: h.kind, namespace: h.namespace, name: h.name, signal: ctx.signal, progress: (m) => ctx.progress(m) },
      h.resourceVersion,
    );
    return reachabilityOf(ctx.host, h, o);
  },

  async alive(ctx, h) {
    const c = await client(ctx);
    try {
      const o = (await c.api.getNamespacedCustomObject({ ...KINDS[h.kind], namespace: h.namespace, name: h.name })) as KObject;
      return o.metadata?.uid === h.uid && readiness(o).state !== "failed";
    } catch (err) {
      if (isNotFound(err)) return false;
      throw apiError(err, { cluster: c.name, server: c.server, verb: "get", resource: resourceName(h.kind), namespace: h.namespace });
    }
  },

  async teardown(ctx, h) {
    const c = await client(ctx);
    if (h) return remove(c, h.kind, h.namespace, h.name, h.uid || undefined);
    // No handle (a crash before provision returned, a lost record): whatever carries our id is ours.
    // A record without a project (lost, reaped by id) may be in any of the cluster's namespaces; a project
    // the inventory gives no namespace never reached the cluster.
    const project = ctx.sandbox.project ?? null;
    let namespaces: string[];
    try {
      namespaces = [namespaceFor(ctx.host, project, c.contextNamespace)];
    } catch {
      namespaces = project === null ? namespacesOf(ctx.host, c.contextNamespace) : [];
    }
    for (const namespace of namespaces) {
      for (const kind of ["SandboxClaim", "Sandbox"] as const) {
        for (const o of await listOurs(c, kind, namespace, `${ID_LABEL}=${ctx.sandbox.id}`)) {
          await remove(c, kind, namespace, o.metadata?.name ?? "", o.metadata?.uid);
        }
      }
    }
  },

  async extendTtl(ctx, h, expiresAt) {
    const c = await client(ctx);
    const path = h.kind === "Sandbox" ? "/spec/shutdownTime" : "/spec/lifecycle/shutdownTime";
    try {
      await c.api.patchNamespacedCustomObject({
        ...KINDS[h.kind],
        namespace: h.namespace,
        name: h.name,
        body: [{ op: "add", path, value: shutdownTimeOf(expiresAt) }],
        fieldValidation: "Strict",
      });
    } catch (err) {
      throw apiError(err, { cluster: c.name, server: c.server, verb: "patch", resource: resourceName(h.kind), namespace: h.namespace });
    }
  },

  async exec(ctx, h, argv, io, opts) {
    const run = async (c: typeof ctx, hh: typeof h, a: string[], o: ExecOptions = {}, i: ExecIo = PIPE) =>
      execInPod({ cluster: await client(c), namespace: hh.namespace, pod: podOf(hh, c.sandbox.reachability), container: hh.container }, a, i, o);
    // A timeout or a caller that may leave: the command runs as a group a second exec can kill (as on the vendors).
    return opts.timeoutMs !== undefined || opts.signal !== undefined ? timedExec(run, ctx, h, argv, io, opts) : run(ctx, h, argv, opts, io);
  },

  async list(ctx) {
    if (!ctx.host.cluster) return [];
    const c = await client(ctx);
    const out: BackendResource[] = [];
    for (const namespace of namespacesOf(ctx.host, c.contextNamespace)) {
      for (const kind of ["Sandbox", "SandboxClaim"] as const) {
        for (const o of await listOurs(c, kind, namespace, ID_LABEL)) {
          const id = o.metadata?.labels?.[ID_LABEL];
          if (!id) continue;
          const r = readiness(o);
          out.push({
            sandboxId: id,
            kind,
            ref: `${ctx.host.name}/${namespace}/${o.metadata?.name}`,
            detail: { namespace, state: r.state, ...(r.state !== "ready" ? { reason: r.reason } : {}) },
          });
        }
      }
    }
    return out;
  },
});
