/**
 * SandboxClaim and SandboxWarmPool, as agent-sandbox's extension controllers
 * behave (extensions/controllers in kubernetes-sigs/agent-sandbox): a claim
 * names a warm pool; it adopts a ready pool sandbox when one is there
 * (launch type warm, the pool replenishes), else cold-starts a Sandbox named
 * after the claim from the pool's template. The claim forwards its sandbox's
 * Ready condition; a missing pool or template is Ready=False WarmPoolNotFound /
 * TemplateNotFound; an expired claim (lifecycle.shutdownTime) is deleted
 * (Delete) or keeps Ready=False ClaimExpired with its sandbox removed (Retain).
 */
import { randomBytes } from "node:crypto";
import { type Condition, controllerOf, LAUNCH_TYPE_LABEL, ownerRef, readyOf, SANDBOX_NAME_ANNOTATION, WARM_POOL_LABEL, withCondition } from "./conditions.js";
import type { FakeController } from "./controller.js";
import { AGENTS, EXTENSIONS } from "./resources.js";
import { EVERYTHING, parseSelectors } from "./selectors.js";
import type { KObject } from "./store.js";

const suffix = () => [...randomBytes(5)].map((b) => "bcdfghjklmnpqrstvwxz2456789"[b % 27]).join("");

export class ClaimController {
  constructor(private readonly ctl: FakeController) {}

  private get store() {
    return this.ctl.store;
  }

  private setReady(claim: KObject, c: Omit<Condition, "lastTransitionTime">): void {
    this.store.update("sandboxclaims", withCondition(claim, c));
  }

  reconcile(ns: string, name: string): void {
    const claim = this.store.get("sandboxclaims", ns, name);
    if (!claim || claim.metadata.deletionTimestamp || claim.status?.sandbox?.name) return;
    const failure = this.ctl.takeFailure("sandboxclaims");
    if (failure) {
      this.setReady(claim, { type: "Ready", status: "False", ...failure });
      return;
    }
    const poolName = claim.spec.warmPoolRef.name as string;
    const pool = this.store.get("sandboxwarmpools", ns, poolName);
    if (!pool) {
      this.setReady(claim, { type: "Ready", status: "False", reason: "WarmPoolNotFound", message: `SandboxWarmPool "${poolName}" not found` });
      return;
    }
    const template = this.store.get("sandboxtemplates", ns, pool.spec.sandboxTemplateRef.name);
    if (!template) {
      this.setReady(claim, {
        type: "Ready",
        status: "False",
        reason: "TemplateNotFound",
        message: `SandboxTemplate "${pool.spec.sandboxTemplateRef.name}" not found`,
      });
      return;
    }
    const extraLabels: Record<string, string> = claim.spec.additionalPodMetadata?.labels ?? {};
    const warm = this.members(pool).find((s) => readyOf(s)?.status === "True");
    let sandbox: KObject;
    if (warm) {
      // Adopt: ownership moves from the pool to the claim; the pool makes a new one.
      const labels = { ...(warm.metadata.labels ?? {}) };
      delete labels[WARM_POOL_LABEL];
      sandbox = this.store.update("sandboxes", {
        ...warm,
        metadata: { ...warm.metadata, labels, ownerReferences: [ownerRef(`${EXTENSIONS}/v1beta1`, claim)] },
      });
      const pod = this.store.get("pods", ns, warm.metadata.name);
      if (pod) this.store.update("pods", { ...pod, metadata: { ...pod.metadata, labels: { ...(pod.metadata.labels ?? {}), ...extraLabels } } });
      this.ctl.later(() => this.reconcilePool(ns, poolName));
    } else {
      const spec = structuredClone(template.spec);
      spec.podTemplate.metadata = { ...(spec.podTemplate.metadata ?? {}), labels: { ...(spec.podTemplate.metadata?.labels ?? {}), ...extraLabels } };
      sandbox = this.store.create("sandboxes", {
        apiVersion: `${AGENTS}/v1beta1`,
        kind: "Sandbox",
        metadata: { name, namespace: ns, labels: { [LAUNCH_TYPE_LABEL]: "cold" }, ownerReferences: [ownerRef(`${EXTENSIONS}/v1beta1`, claim)] },
        spec: {
          podTemplate: spec.podTemplate,
          ...(spec.volumeClaimTemplates ? { volumeClaimTemplates: spec.volumeClaimTemplates } : {}),
          ...(spec.service !== undefined ? { service: spec.service } : {}),
        },
      });
    }
    const cur = this.store.get("sandboxclaims", ns, name);
    if (!cur) return;
    cur.metadata.annotations = { ...(cur.metadata.annotations ?? {}), [SANDBOX_NAME_ANNOTATION]: sandbox.metadata.name };
    cur.status = { ...(cur.status ?? {}), sandbox: { name: sandbox.metadata.name, ...(sandbox.status?.podIPs ? { podIPs: sandbox.status.podIPs } : {}) } };
    const fwd = readyOf(sandbox);
    this.setReady(
      cur,
      fwd
        ? { ...fwd, observedGeneration: cur.metadata.generation }
        : { type: "Ready", status: "False", reason: "SandboxNotReady", message: "Sandbox is not ready" },
    );
  }

  /** Unclaimed sandboxes the pool owns. */
  private members(pool: KObject): KObject[] {
    return this.store
      .list("sandboxes", pool.metadata.namespace, parseSelectors(`${WARM_POOL_LABEL}=${pool.metadata.name}`, null))
      .filter((s) => controllerOf(s)?.uid === pool.metadata.uid && !s.metadata.deletionTimestamp);
  }

  /** The claim follows its sandbox: Ready (and podIPs) forwarded; a pool member's readiness updates the pool. */
  sandboxChanged(sb: KObject): void {
    const owner = controllerOf(sb);
    if (owner?.kind === "SandboxWarmPool") this.ctl.later(() => this.reconcilePool(sb.metadata.namespace, owner.name));
    if (owner?.kind !== "SandboxClaim") return;
    const claim = this.store.get("sandboxclaims", sb.metadata.namespace, owner.name);
    if (!claim || claim.status?.sandbox?.name !== sb.metadata.name || claim.metadata.uid !== owner.uid) return;
    const ready = readyOf(sb);
    const cur = readyOf(claim);
    if (
      !ready ||
      (cur?.status === ready.status && cur.reason === ready.reason && JSON.stringify(claim.status.sandbox.podIPs) === JSON.stringify(sb.status?.podIPs))
    )
      return;
    claim.status = { ...claim.status, sandbox: { name: sb.metadata.name, ...(sb.status?.podIPs ? { podIPs: sb.status.podIPs } : {}) } };
    this.setReady(claim, {
      ...ready,
      ...(ready.reason === "SandboxExpired" ? { message: "Underlying Sandbox resource has expired independently of the Claim." } : {}),
    });
  }

  /** A claimed sandbox deleted behind the claim's back: the claim reports SandboxMissing. */
  sandboxGone(sb: KObject): void {
    const owner = controllerOf(sb);
    if (owner?.kind === "SandboxWarmPool") this.ctl.later(() => this.reconcilePool(sb.metadata.namespace, owner.name));
    if (owner?.kind !== "SandboxClaim") return;
    const claim = this.store.get("sandboxclaims", sb.metadata.namespace, owner.name);
    if (!claim || claim.metadata.uid !== owner.uid || readyOf(claim)?.reason === "ClaimExpired") return;
    claim.status = { ...claim.status, sandbox: {} };
    this.setReady(claim, { type: "Ready", status: "False", reason: "SandboxMissing", message: `Sandbox "${sb.metadata.name}" is missing` });
  }

  reconcilePool(ns: string, name: string): void {
    const pool = this.store.get("sandboxwarmpools", ns, name);
    if (!pool) return;
    const template = this.store.get("sandboxtemplates", ns, pool.spec.sandboxTemplateRef.name);
    const members = this.members(pool);
    const want = pool.spec.replicas ?? 1;
    if (template) {
      for (let i = members.length; i < want; i++) {
        const spec = structuredClone(template.spec);
        this.store.create("sandboxes", {
          apiVersion: `${AGENTS}/v1beta1`,
          kind: "Sandbox",
          metadata: {
            name: `${name}-${suffix()}`,
            namespace: ns,
            labels: { [WARM_POOL_LABEL]: name, [LAUNCH_TYPE_LABEL]: "warm" },
            ownerReferences: [ownerRef(`${EXTENSIONS}/v1beta1`, pool)],
          },
          spec: { podTemplate: spec.podTemplate, ...(spec.service !== undefined ? { service: spec.service } : {}) },
        });
      }
    }
    for (const extra of members.slice(want)) this.store.remove("sandboxes", ns, extra.metadata.name);
    const now = this.members(pool);
    const status = {
      replicas: now.length,
      readyReplicas: now.filter((s) => readyOf(s)?.status === "True").length,
      selector: `${WARM_POOL_LABEL}=${name}`,
      observedGeneration: pool.metadata.generation,
    };
    if (JSON.stringify(status) !== JSON.stringify(pool.status)) this.store.update("sandboxwarmpools", { ...pool, status });
  }

  /** A template appeared: pools on it fill up, claims waiting for it try again. */
  templateAdded(ns: string, name: string): void {
    for (const pool of this.store.list("sandboxwarmpools", ns, EVERYTHING)) {
      if (pool.spec.sandboxTemplateRef.name !== name) continue;
      this.reconcilePool(ns, pool.metadata.name);
      this.retryWaiting(ns);
    }
  }

  private retryWaiting(ns: string): void {
    for (const c of this.store.list("sandboxclaims", ns, EVERYTHING))
      if (["WarmPoolNotFound", "TemplateNotFound"].includes(readyOf(c)?.reason ?? "")) this.ctl.later(() => this.reconcile(ns, c.metadata.name));
  }

  expireDue(t: number): void {
    for (const claim of this.store.list("sandboxclaims", undefined, EVERYTHING)) {
      const at = claim.spec.lifecycle?.shutdownTime ? Date.parse(claim.spec.lifecycle.shutdownTime) : Number.NaN;
      if (!(at <= t) || readyOf(claim)?.reason === "ClaimExpired") continue;
      const { namespace: ns, name } = claim.metadata;
      if (["Delete", "DeleteForeground"].includes(claim.spec.lifecycle.shutdownPolicy)) {
        this.store.remove("sandboxclaims", ns, name);
        continue;
      }
      const sbName = claim.status?.sandbox?.name;
      this.setReady(claim, { type: "Ready", status: "False", reason: "ClaimExpired", message: "Claim expired. Sandbox cleanup initiated." });
      if (sbName) this.store.remove("sandboxes", ns, sbName);
    }
  }
}
