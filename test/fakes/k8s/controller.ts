/**
 * The fake's controllers, played in-process against the store: a Sandbox gets
 * a Pod (a real process, test/fakes/k8s/pods.ts) and then `Ready=True`
 * (reason DependenciesReady, podIPs, nodeName); `shutdownTime` is enforced
 * (Delete removes the object, Retain leaves Ready=False SandboxExpired); the
 * garbage collector deletes what an object owns once it is gone. Claims and
 * warm pools are in claims.ts. Tests steer it: `hold()` keeps new sandboxes
 * pending, `failNext()` makes the next one report a failure reason.
 */
import { ClaimController } from "./claims.js";
import { controllerOf, ownerRef, readyOf, timestamp, withCondition } from "./conditions.js";
import { PodRuntime } from "./pods.js";
import { AGENTS } from "./resources.js";
import { EVERYTHING } from "./selectors.js";
import type { Change, KObject, ObjectStore } from "./store.js";

export type FailResource = "sandboxes" | "sandboxclaims";

export class FakeController {
  readonly pods: PodRuntime;
  readonly claims: ClaimController;
  private held = false;
  private readonly heldQueue: (() => void)[] = [];
  private readonly failures: { resource: FailResource; reason: string; message: string }[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private unsubscribe = () => {};
  private tick: NodeJS.Timeout | undefined;

  constructor(
    readonly store: ObjectStore,
    podRoot: string,
    /** How long each reconcile waits, as a real controller's queue and the kubelet would. */
    readonly delayMs: number,
  ) {
    this.pods = new PodRuntime(podRoot, (ns, name, code) => this.podDied(ns, name, code));
    this.claims = new ClaimController(this);
  }

  start(): void {
    this.unsubscribe = this.store.onChange((c) => this.react(c));
    this.tick = setInterval(() => this.expireDue(), 200);
  }

  stop(): void {
    this.unsubscribe();
    if (this.tick) clearInterval(this.tick);
    for (const t of this.timers) clearTimeout(t);
    this.pods.stopAll();
  }

  /** New sandboxes stay pending (no pod, no Ready) until release(). */
  hold(): void {
    this.held = true;
  }

  release(): void {
    this.held = false;
    for (const fn of this.heldQueue.splice(0)) this.later(fn);
  }

  /** The next sandbox (or claim) reconciled reports Ready=False with this reason instead of starting. */
  failNext(resource: FailResource, reason: string, message: string): void {
    this.failures.push({ resource, reason, message });
  }

  takeFailure(resource: FailResource): { reason: string; message: string } | undefined {
    const i = this.failures.findIndex((f) => f.resource === resource);
    return i >= 0 ? this.failures.splice(i, 1)[0] : undefined;
  }

  later(fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, this.delayMs);
    this.timers.add(t);
  }

  private react(c: Change): void {
    const { namespace: ns, name, uid } = c.object.metadata;
    if (c.type === "DELETED") {
      if (c.resource === "pods") this.podGone(ns, name);
      this.collectGarbage(uid);
    }
    if (c.resource === "sandboxes" && c.type === "ADDED") this.later(() => this.reconcileSandbox(ns, name));
    if (c.resource === "sandboxes" && c.type === "MODIFIED") this.claims.sandboxChanged(c.object);
    if (c.resource === "sandboxes" && c.type === "DELETED") this.claims.sandboxGone(c.object);
    if (c.resource === "sandboxclaims" && c.type === "ADDED") this.later(() => this.claims.reconcile(ns, name));
    if (c.resource === "sandboxwarmpools" && c.type !== "DELETED" && c.object.status?.observedGeneration !== c.object.metadata.generation)
      this.later(() => this.claims.reconcilePool(ns, name));
    if (c.resource === "sandboxtemplates" && c.type === "ADDED") this.later(() => this.claims.templateAdded(ns, name));
  }

  reconcileSandbox(ns: string, name: string): void {
    if (this.held) {
      this.heldQueue.push(() => this.reconcileSandbox(ns, name));
      return;
    }
    const sb = this.store.get("sandboxes", ns, name);
    if (!sb || sb.metadata.deletionTimestamp || readyOf(sb)?.status === "True") return;
    const failure = this.takeFailure("sandboxes");
    if (failure) {
      this.store.update("sandboxes", withCondition(sb, { type: "Ready", status: "False", ...failure }));
      return;
    }
    if (sb.spec?.operatingMode === "Suspended") return;
    if (!this.store.get("pods", ns, name)) {
      this.pods.start(ns, name);
      const tpl = sb.spec.podTemplate ?? {};
      const started = timestamp();
      const containers = (tpl.spec?.containers ?? []) as { name: string; image?: string }[];
      this.store.create("pods", {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          name,
          namespace: ns,
          labels: { ...(tpl.metadata?.labels ?? {}) },
          annotations: { ...(tpl.metadata?.annotations ?? {}) },
          ownerReferences: [ownerRef(`${AGENTS}/v1beta1`, sb)],
        },
        spec: { ...tpl.spec, nodeName: "fake-node" },
        status: {
          phase: "Running",
          conditions: [{ type: "Ready", status: "True", lastTransitionTime: started }],
          hostIP: "127.0.0.1",
          podIP: "127.0.0.1",
          podIPs: [{ ip: "127.0.0.1" }],
          startTime: started,
          containerStatuses: containers.map((ct) => ({
            name: ct.name,
            image: ct.image ?? "",
            ready: true,
            started: true,
            restartCount: 0,
            state: { running: { startedAt: started } },
          })),
        },
      });
    }
    const cur = this.store.get("sandboxes", ns, name);
    if (!cur) return;
    const ready = withCondition(cur, { type: "Ready", status: "True", reason: "DependenciesReady", message: "Pod is Ready; Service Exists" });
    ready.status = {
      ...ready.status,
      podIPs: ["127.0.0.1"],
      nodeName: "fake-node",
      selector: `agents.x-k8s.io/sandbox-name-hash=${cur.metadata.uid.slice(0, 8)}`,
    };
    if (cur.spec.service) Object.assign(ready.status, { service: name, serviceFQDN: `${name}.${ns}.svc.cluster.local` });
    this.store.update("sandboxes", ready);
  }

  /** A pod's process exited on its own: the pod fails, its sandbox is no longer ready. */
  private podDied(ns: string, name: string, code: number | null): void {
    const pod = this.store.get("pods", ns, name);
    if (pod)
      this.store.update("pods", {
        ...pod,
        status: { ...pod.status, phase: "Failed", conditions: [{ type: "Ready", status: "False", reason: "PodFailed", lastTransitionTime: timestamp() }] },
      });
    const sb = this.store.get("sandboxes", ns, name);
    if (!sb) return;
    const failed = withCondition(
      withCondition(sb, { type: "Ready", status: "False", reason: "PodFailed", message: `container exited with code ${code ?? "signal"}` }),
      { type: "Finished", status: "True", reason: "PodFailed", message: "Pod failed" },
    );
    failed.status = { ...failed.status, podIPs: undefined, nodeName: undefined };
    this.store.update("sandboxes", failed);
  }

  /** A pod object was deleted: stop its process; a live sandbox gets a new pod, as the real controller recreates it. */
  private podGone(ns: string, name: string): void {
    this.pods.stop(ns, name);
    const sb = this.store.get("sandboxes", ns, name);
    if (!sb || sb.metadata.deletionTimestamp || ["SandboxExpired", "PodFailed"].includes(readyOf(sb)?.reason ?? "")) return;
    this.store.update("sandboxes", withCondition(sb, { type: "Ready", status: "False", reason: "DependenciesNotReady", message: "Pod does not exist" }));
    this.later(() => this.reconcileSandbox(ns, name));
  }

  /** Background cascading deletion: everything an object owned goes when it goes. */
  collectGarbage(uid: string): void {
    for (const { resource, object } of this.store.ownedBy(uid)) {
      if (controllerOf(object)?.uid === uid || object.metadata.ownerReferences?.length === 1)
        this.store.remove(resource, object.metadata.namespace, object.metadata.name);
    }
  }

  private expireDue(): void {
    const t = Date.now();
    for (const sb of this.store.list("sandboxes", undefined, EVERYTHING)) {
      const at = sb.spec?.shutdownTime ? Date.parse(sb.spec.shutdownTime) : Number.NaN;
      if (!(at <= t) || readyOf(sb)?.reason === "SandboxExpired") continue;
      this.expireSandbox(sb);
    }
    this.claims.expireDue(t);
  }

  expireSandbox(sb: KObject): void {
    const { namespace: ns, name } = sb.metadata;
    if (sb.spec?.shutdownPolicy === "Delete") {
      this.store.remove("sandboxes", ns, name);
      return;
    }
    const cur = withCondition(sb, { type: "Ready", status: "False", reason: "SandboxExpired", message: "Sandbox has expired" });
    cur.status = { ...cur.status, podIPs: undefined, nodeName: undefined };
    this.store.update("sandboxes", cur);
    if (this.store.get("pods", ns, name)) this.store.remove("pods", ns, name);
  }
}
