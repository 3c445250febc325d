/**
 * The fake API server's storage: objects per resource, one cluster-wide
 * resourceVersion counter (as etcd's revision), and a bounded log of changes
 * that watches replay from a resourceVersion. A watch from a version older
 * than the log's start is answered 410 Gone (reason Expired), as the real
 * server does once etcd has compacted past it.
 */
import { randomUUID } from "node:crypto";
import { matches, type Selector } from "./selectors.js";

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are free-form JSON here.
export type KObject = { apiVersion: string; kind: string; metadata: Meta; spec?: any; status?: any; [k: string]: unknown };
export interface Meta {
  name: string;
  namespace: string;
  uid: string;
  resourceVersion: string;
  generation: number;
  creationTimestamp: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }[];
  finalizers?: string[];
  generateName?: string;
}

export type EventType = "ADDED" | "MODIFIED" | "DELETED";
export interface Change {
  rv: number;
  resource: string;
  type: EventType;
  object: KObject;
}

const LOG_LIMIT = 5000;
const key = (ns: string, name: string) => `${ns}/${name}`;

export class ObjectStore {
  private rv = 100;
  private readonly objects = new Map<string, Map<string, KObject>>();
  private readonly log: Change[] = [];
  /** Changes at or before this version are gone from the log: watches from older versions get 410. */
  compactedThrough = 100;
  private readonly listeners = new Set<(c: Change) => void>();

  get resourceVersion(): string {
    return String(this.rv);
  }

  private table(resource: string): Map<string, KObject> {
    let t = this.objects.get(resource);
    if (!t) {
      t = new Map();
      this.objects.set(resource, t);
    }
    return t;
  }

  private record(resource: string, type: EventType, object: KObject): KObject {
    const change = { rv: this.rv, resource, type, object: structuredClone(object) };
    this.log.push(change);
    if (this.log.length > LOG_LIMIT) this.compactedThrough = this.log.shift()?.rv ?? this.compactedThrough;
    for (const l of this.listeners) l(change);
    return structuredClone(object);
  }

  onChange(fn: (c: Change) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  get(resource: string, ns: string, name: string): KObject | undefined {
    const o = this.table(resource).get(key(ns, name));
    return o ? structuredClone(o) : undefined;
  }

  list(resource: string, ns: string | undefined, sel: Selector): KObject[] {
    return [...this.table(resource).values()]
      .filter((o) => (ns === undefined || o.metadata.namespace === ns) && matches(o, sel))
      .map((o) => structuredClone(o));
  }

  /** Insert a new object: the server assigns uid, resourceVersion, generation and creationTimestamp. */
  create(
    resource: string,
    obj: { apiVersion: string; kind: string; metadata: Partial<Meta> & { name: string; namespace: string }; [k: string]: unknown },
  ): KObject {
    this.rv++;
    const stored: KObject = {
      ...obj,
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      metadata: {
        ...obj.metadata,
        uid: randomUUID(),
        resourceVersion: String(this.rv),
        generation: 1,
        creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      },
    };
    this.table(resource).set(key(stored.metadata.namespace, stored.metadata.name), structuredClone(stored));
    return this.record(resource, "ADDED", stored);
  }

  /** Replace an object (spec or status change); generation moves only when the spec does. */
  update(resource: string, obj: KObject): KObject {
    const t = this.table(resource);
    const k = key(obj.metadata.namespace, obj.metadata.name);
    const old = t.get(k);
    if (!old) throw new Error(`no ${resource} ${k}`);
    this.rv++;
    const specChanged = JSON.stringify(old.spec) !== JSON.stringify(obj.spec);
    const stored: KObject = {
      ...obj,
      metadata: {
        ...obj.metadata,
        uid: old.metadata.uid,
        creationTimestamp: old.metadata.creationTimestamp,
        resourceVersion: String(this.rv),
        generation: old.metadata.generation + (specChanged ? 1 : 0),
      },
    };
    t.set(k, structuredClone(stored));
    return this.record(resource, "MODIFIED", stored);
  }

  remove(resource: string, ns: string, name: string): KObject | undefined {
    const t = this.table(resource);
    const old = t.get(key(ns, name));
    if (!old) return undefined;
    t.delete(key(ns, name));
    this.rv++;
    return this.record(resource, "DELETED", { ...old, metadata: { ...old.metadata, resourceVersion: String(this.rv) } });
  }

  /** Every object of any resource whose ownerReferences name `uid` (for garbage collection). */
  ownedBy(uid: string): { resource: string; object: KObject }[] {
    const out: { resource: string; object: KObject }[] = [];
    for (const [resource, t] of this.objects)
      for (const o of t.values()) if (o.metadata.ownerReferences?.some((r) => r.uid === uid)) out.push({ resource, object: structuredClone(o) });
    return out;
  }

  /** Changes after `rv` for a resource, or "expired" when the log no longer reaches back that far. */
  since(rv: number, resource: string): Change[] | "expired" {
    if (rv < this.compactedThrough) return "expired";
    return this.log.filter((c) => c.rv > rv && c.resource === resource).map((c) => ({ ...c, object: structuredClone(c.object) }));
  }

  /** Forget the history (as etcd compaction does): any watch from an older version now gets 410. */
  compact(): void {
    this.compactedThrough = this.rv;
    this.log.length = 0;
  }
}
