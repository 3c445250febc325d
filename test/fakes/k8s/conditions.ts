/** metav1.Condition helpers and the agent-sandbox label/annotation keys the fake controller uses. */
import type { KObject } from "./store.js";

export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export const WARM_POOL_LABEL = "agents.x-k8s.io/warm-pool-sandbox";
export const LAUNCH_TYPE_LABEL = "agents.x-k8s.io/launch-type";
export const SANDBOX_NAME_ANNOTATION = "agents.x-k8s.io/sandbox-name";

const now = () => new Date().toISOString().replace(/\.\d+Z$/, "Z");

export function readyOf(o: KObject | undefined): Condition | undefined {
  return (o?.status?.conditions as Condition[] | undefined)?.find((c) => c.type === "Ready");
}

/** Set a condition by type; lastTransitionTime moves only when the status does (as meta.SetStatusCondition). */
export function withCondition(o: KObject, c: Omit<Condition, "lastTransitionTime">): KObject {
  const conds: Condition[] = [...((o.status?.conditions as Condition[] | undefined) ?? [])];
  const i = conds.findIndex((x) => x.type === c.type);
  const old = conds[i];
  const next: Condition = {
    ...c,
    observedGeneration: o.metadata.generation,
    lastTransitionTime: old && old.status === c.status ? old.lastTransitionTime : now(),
  };
  if (i >= 0) conds[i] = next;
  else conds.push(next);
  return { ...o, status: { ...(o.status ?? {}), conditions: conds } };
}

export function ownerRef(apiVersion: string, o: KObject) {
  return { apiVersion, kind: o.kind, name: o.metadata.name, uid: o.metadata.uid, controller: true, blockOwnerDeletion: true };
}

export const controllerOf = (o: KObject) => o.metadata.ownerReferences?.find((r) => r.controller);
export { now as timestamp };
