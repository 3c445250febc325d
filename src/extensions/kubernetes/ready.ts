/**
 * Ready = ONE watch on the object (fieldSelector metadata.name, from the
 * create's resourceVersion) until its `Ready` condition is True: no polling.
 * A dropped watch resumes from the last resourceVersion seen (bookmarks keep
 * it fresh); 410 Gone (the history was compacted) restarts from a fresh list
 * of that one object; a terminal reason from the controller fails at once.
 */
import { SandboxerError } from "../../errors.js";
import type { Cluster } from "./client.js";
import { apiError, statusOf } from "./errors.js";
import { KINDS, type Kind } from "./objects.js";

/** A watched object: metadata we read, status and spec as free-form JSON. */
export type KObject = {
  metadata?: {
    name?: string;
    uid?: string;
    resourceVersion?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  // biome-ignore lint/suspicious/noExplicitAny: free-form JSON.
  status?: any;
  // biome-ignore lint/suspicious/noExplicitAny: free-form JSON.
  spec?: any;
};
interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

/** Ready=False reasons after which agent-sandbox will not make the object ready by itself. */
export const TERMINAL_REASONS = new Set([
  "ClaimExpired",
  "SandboxExpired",
  "ReconcilerError",
  "WarmPoolNotFound",
  "TemplateNotFound",
  "InvalidMetadata",
  "EnvVarsInjectionRejected",
  "VolumeClaimTemplatesError",
  "PodFailed",
  "PodSucceeded",
  "MultiplePods",
]);

export type Readiness = { state: "ready" } | { state: "pending"; reason: string; message: string } | { state: "failed"; reason: string; message: string };

/** Where an object stands, from its conditions alone (pure). */
export function readiness(o: KObject): Readiness {
  if (o.metadata?.deletionTimestamp) return { state: "failed", reason: "Deleting", message: "the object is being deleted" };
  const conds: Condition[] = Array.isArray(o.status?.conditions) ? o.status.conditions : [];
  const ready = conds.find((c) => c.type === "Ready");
  if (ready?.status === "True") return { state: "ready" };
  const finished = conds.find((c) => c.type === "Finished" && c.status === "True");
  if (ready && TERMINAL_REASONS.has(ready.reason ?? "")) return { state: "failed", reason: ready.reason ?? "", message: ready.message ?? "" };
  if (finished) return { state: "failed", reason: finished.reason ?? "Finished", message: finished.message ?? "the pod finished" };
  return { state: "pending", reason: ready?.reason ?? "NoCondition", message: ready?.message ?? "" };
}

/** How one watch connection ended; `error` is what cut it (a refused connection, an HTTP error answer). */
type Outcome = { end: "ready"; object: KObject } | { end: "expired" } | { end: "closed"; rv: string; events: number; error?: unknown };

export interface WatchTarget {
  cluster: Cluster;
  kind: Kind;
  namespace: string;
  name: string;
  signal: AbortSignal;
  progress(message: string): void;
}

/** Consecutive connection failures (no event in between) before the cluster counts as unreachable. */
const MAX_FAILURES = 3;

/** Resolve with the object once Ready=True; reject with the controller's reason, a deletion, or the abort reason. */
export async function untilReady(t: WatchTarget, fromRv: string): Promise<KObject> {
  const k = KINDS[t.kind];
  const attempt = { cluster: t.cluster.name, server: t.cluster.server, verb: "watch", resource: `${k.plural}.${k.group}`, namespace: t.namespace };
  let rv = fromRv;
  let failures = 0;
  let idle = 0;
  for (;;) {
    const out = await watchOnce(t, rv);
    if (out.end === "ready") return out.object;
    if (out.end === "expired" || (out.end === "closed" && statusOf(out.error) === 410)) {
      t.progress(`${t.kind} ${t.name}: watch history expired (410 Gone); listing it afresh`);
      const fresh = await relist(t, attempt);
      if (!fresh.object) throw gone(t);
      const r = readiness(fresh.object);
      if (r.state === "ready") return fresh.object;
      if (r.state === "failed") throw failed(t, r);
      rv = fresh.rv;
      continue;
    }
    if (out.error !== undefined && statusOf(out.error) !== undefined) throw apiError(out.error, attempt);
    // The stream ended or dropped (server timeout, restart, network): resume from the last version seen.
    rv = out.rv;
    failures = out.error === undefined || out.events ? 0 : failures + 1;
    if (failures >= MAX_FAILURES) throw apiError(out.error, attempt);
    idle = out.events ? 0 : idle + 1;
    if (idle > 1) await sleep(Math.min(2000, 50 * 2 ** idle), t.signal);
    if (t.signal.aborted) throw t.signal.reason;
  }
}

function failed(t: WatchTarget, r: { reason: string; message: string }): SandboxerError {
  return new SandboxerError(
    "SBX_PROVISION_FAILED",
    `${t.kind} ${t.namespace}/${t.name} on cluster '${t.cluster.name}' failed: ${r.reason}${r.message ? `: ${r.message}` : ""}`,
    {
      details: { reason: r.reason, cluster: t.cluster.name, namespace: t.namespace, name: t.name },
    },
  );
}

const gone = (t: WatchTarget) =>
  new SandboxerError("SBX_PROVISION_FAILED", `${t.kind} ${t.namespace}/${t.name} on cluster '${t.cluster.name}' was deleted before it became ready`, {
    details: { reason: "Deleted" },
  });

async function relist(
  t: WatchTarget,
  attempt: { cluster: string; server: string; verb: string; resource: string; namespace: string },
): Promise<{ object: KObject | undefined; rv: string }> {
  const k = KINDS[t.kind];
  try {
    const list = (await t.cluster.api.listNamespacedCustomObject({ ...k, namespace: t.namespace, fieldSelector: `metadata.name=${t.name}` })) as {
      metadata?: { resourceVersion?: string };
      items?: KObject[];
    };
    return { object: list.items?.[0], rv: list.metadata?.resourceVersion ?? "" };
  } catch (err) {
    throw apiError(err, { ...attempt, verb: "list" });
  }
}

/** One watch connection, until ready, a failure, or the stream ends. Rejects only with a verdict or the abort. */
function watchOnce(t: WatchTarget, fromRv: string): Promise<Outcome> {
  const k = KINDS[t.kind];
  const path = `/apis/${k.group}/${k.version}/namespaces/${encodeURIComponent(t.namespace)}/${k.plural}`;
  return new Promise<Outcome>((resolve, reject) => {
    let rv = fromRv;
    let events = 0;
    let settled = false;
    let controller: AbortController | undefined;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      t.signal.removeEventListener("abort", onAbort);
      controller?.abort();
      fn();
    };
    const onAbort = () => settle(() => reject(t.signal.reason));
    if (t.signal.aborted) return onAbort();
    t.signal.addEventListener("abort", onAbort, { once: true });
    const closed = (error?: unknown) => settle(() => resolve({ end: "closed", rv, events, ...(error ? { error } : {}) }));
    const onEvent = (type: string, obj: KObject & { code?: number; message?: string }) => {
      if (settled) return;
      events++;
      if (type === "ERROR") {
        if (obj.code === 410) return settle(() => resolve({ end: "expired" }));
        return closed(Object.assign(new Error(obj.message ?? "watch error"), { code: obj.code, body: obj }));
      }
      if (obj.metadata?.resourceVersion) rv = obj.metadata.resourceVersion;
      if (type === "BOOKMARK") return;
      if (type === "DELETED") return settle(() => reject(gone(t)));
      const r = readiness(obj);
      if (r.state === "ready") return settle(() => resolve({ end: "ready", object: obj }));
      if (r.state === "failed") return settle(() => reject(failed(t, r)));
      if (r.reason !== "NoCondition") t.progress(`${t.kind} ${t.name}: not ready yet (${r.reason}${r.message ? `: ${r.message}` : ""})`);
    };
    const query = { fieldSelector: `metadata.name=${t.name}`, resourceVersion: rv, allowWatchBookmarks: true };
    t.cluster.watch
      .watch(path, query, onEvent, (err: unknown) => closed(err ?? undefined))
      .then(
        (c) => {
          controller = c;
          if (settled) c.abort();
        },
        (err: unknown) => closed(err),
      );
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
