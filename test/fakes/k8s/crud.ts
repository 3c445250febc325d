/**
 * create / get / list / update / patch / delete for one resource, answering
 * as the API server does: 201 with the stored object, 404/409/422 Status
 * objects, strict decoding errors (400) for unknown fields when the request
 * says `fieldValidation=Strict` (a Warning header and pruning otherwise),
 * JSON and merge patches (strategic merge is refused for custom resources),
 * and deletion with background, foreground or orphan propagation.
 */
import type { FakeController } from "./controller.js";
import { check, type Problems, prune } from "./fields.js";
import { alreadyExists, apiVersionOf, failure, notFound, type ResourceDef, type Status } from "./resources.js";
import type { Selector } from "./selectors.js";
import type { KObject, ObjectStore } from "./store.js";

export interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string | string[]>;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const fail = (s: Status): Answer => ({ status: s.code, body: s });

function invalid(def: ResourceDef, name: string, problems: { path: string; message: string }[]): Answer {
  const list = problems.map((p) => `${p.path}: ${p.message === "Required value" ? "Required value" : `Invalid value: ${p.message}`}`);
  return fail(
    failure(422, "Invalid", `${def.kind}.${def.group || "core"} "${name}" is invalid: ${list.length > 1 ? `[${list.join(", ")}]` : list[0]}`, {
      name,
      group: def.group,
      kind: def.kind,
      causes: problems.map((p) => ({ reason: p.message === "Required value" ? "FieldValueRequired" : "FieldValueInvalid", message: p.message, field: p.path })),
    }),
  );
}

/** Metadata the server checks on every write: the name, label syntax and lengths. */
function metaProblems(o: KObject): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  const name = o.metadata?.name ?? "";
  if (!name) out.push({ path: "metadata.name", message: "Required value" });
  else if (name.length > 253 || !DNS_SUBDOMAIN.test(name))
    out.push({ path: "metadata.name", message: `"${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'` });
  for (const [k, v] of Object.entries(o.metadata?.labels ?? {})) {
    if (!LABEL_KEY.test(k) || k.split("/").pop()!.length > 63)
      out.push({ path: "metadata.labels", message: `"${k}": name part must consist of alphanumeric characters, '-', '_' or '.'` });
    if (typeof v !== "string" || v.length > 63 || !LABEL_VALUE.test(v))
      out.push({
        path: "metadata.labels",
        message: `"${v}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.' (at most 63)`,
      });
  }
  return out;
}

/** Validate a body about to be stored; Strict turns unknown fields into a 400, Warn into Warning headers. */
type Admitted = { ok: true; object: KObject; warnings: string[] } | { ok: false; answer: Answer };

function admit(def: ResourceDef, o: KObject, fieldValidation: string): Admitted {
  const problems: Problems = { unknown: [], invalid: [] };
  if (def.schema) check(def.schema, o, "", problems);
  if (problems.unknown.length && fieldValidation === "Strict") {
    return { ok: false, answer: fail(failure(400, "BadRequest", `strict decoding error: ${problems.unknown.map((u) => `unknown field "${u}"`).join(", ")}`)) };
  }
  const bad = [...metaProblems(o), ...problems.invalid];
  if (bad.length) return { ok: false, answer: invalid(def, o.metadata?.name ?? "", bad) };
  const object = (def.schema ? prune(def.schema, o) : o) as KObject;
  const warnings = fieldValidation === "Ignore" ? [] : problems.unknown.map((u) => `299 - "unknown field \\"${u}\\""`);
  return { ok: true, object, warnings };
}

export class Crud {
  constructor(
    private readonly store: ObjectStore,
    private readonly ctl: FakeController,
    private readonly namespaces: Set<string>,
  ) {}

  create(def: ResourceDef, ns: string, body: unknown, fieldValidation: string): Answer {
    if (!def.creatable) return fail(failure(405, "MethodNotAllowed", `the server does not allow this method on the requested resource`));
    if (!this.namespaces.has(ns)) return fail(failure(404, "NotFound", `namespaces "${ns}" not found`, { name: ns, kind: "namespaces" }));
    const o = body as KObject;
    if (typeof o !== "object" || o === null || Array.isArray(o)) return fail(failure(400, "BadRequest", "the body of the request was in an unknown format"));
    if (o.apiVersion !== apiVersionOf(def) || o.kind !== def.kind) {
      return fail(
        failure(
          400,
          "BadRequest",
          `the API version in the data (${o.apiVersion}) or kind (${o.kind}) does not match the expected ${apiVersionOf(def)} ${def.kind}`,
        ),
      );
    }
    if (o.metadata?.namespace && o.metadata.namespace !== ns)
      return fail(failure(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request"));
    if (!o.metadata?.name && o.metadata?.generateName) o.metadata.name = `${o.metadata.generateName}${Math.random().toString(36).slice(2, 7)}`;
    const ok = admit(def, o, fieldValidation);
    if (!ok.ok) return ok.answer;
    const { object, warnings } = ok;
    if (this.store.get(def.plural, ns, object.metadata.name)) return fail(alreadyExists(def, object.metadata.name));
    // Status is a subresource: what a client sends with create is dropped.
    const { status: _dropped, ...rest } = object;
    const { uid: _u, resourceVersion: _rv, generation: _g, creationTimestamp: _c, deletionTimestamp: _d, ...meta } = object.metadata;
    const stored = this.store.create(def.plural, { ...rest, metadata: { ...meta, namespace: ns } });
    return { status: 201, body: stored, ...(warnings.length ? { headers: { warning: warnings } } : {}) };
  }

  get(def: ResourceDef, ns: string, name: string): Answer {
    const o = this.store.get(def.plural, ns, name);
    return o ? { status: 200, body: o } : fail(notFound(def, name));
  }

  list(def: ResourceDef, ns: string | undefined, sel: Selector): Answer {
    const items = this.store.list(def.plural, ns, sel);
    return { status: 200, body: { apiVersion: apiVersionOf(def), kind: `${def.kind}List`, metadata: { resourceVersion: this.store.resourceVersion }, items } };
  }

  /** PUT: a full replacement, refused with 409 Conflict when the client's resourceVersion is stale. */
  update(def: ResourceDef, ns: string, name: string, body: unknown, fieldValidation: string): Answer {
    const cur = this.store.get(def.plural, ns, name);
    if (!cur) return fail(notFound(def, name));
    const o = body as KObject;
    if (o?.metadata?.resourceVersion !== cur.metadata.resourceVersion) {
      return fail(
        failure(
          409,
          "Conflict",
          `Operation cannot be fulfilled on ${def.plural}.${def.group} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        ),
      );
    }
    return this.write(def, cur, { ...o, status: cur.status }, fieldValidation);
  }

  patch(def: ResourceDef, ns: string, name: string, contentType: string, body: unknown, fieldValidation: string): Answer {
    const cur = this.store.get(def.plural, ns, name);
    if (!cur) return fail(notFound(def, name));
    let next: KObject;
    if (contentType.startsWith("application/json-patch+json")) {
      const applied = applyJsonPatch(structuredClone(cur), body);
      if (typeof applied === "string") return fail(failure(422, "Invalid", applied));
      next = applied;
    } else if (contentType.startsWith("application/merge-patch+json")) {
      next = mergePatch(structuredClone(cur), body) as KObject;
    } else {
      return fail(
        failure(
          415,
          "UnsupportedMediaType",
          `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`,
        ),
      );
    }
    return this.write(def, cur, { ...next, status: cur.status }, fieldValidation);
  }

  private write(def: ResourceDef, cur: KObject, next: KObject, fieldValidation: string): Answer {
    if (next.metadata?.name !== cur.metadata.name) return fail(failure(422, "Invalid", "metadata.name: Invalid value: field is immutable"));
    const ok = admit(def, next, fieldValidation);
    if (!ok.ok) return ok.answer;
    const { object, warnings } = ok;
    const stored = this.store.update(def.plural, {
      ...object,
      metadata: { ...cur.metadata, labels: object.metadata.labels, annotations: object.metadata.annotations },
    });
    return { status: 200, body: stored, ...(warnings.length ? { headers: { warning: warnings } } : {}) };
  }

  delete(def: ResourceDef, ns: string, name: string, propagation: string | undefined, preconditions?: { uid?: string; resourceVersion?: string }): Answer {
    const cur = this.store.get(def.plural, ns, name);
    if (!cur) return fail(notFound(def, name));
    if (preconditions?.uid && preconditions.uid !== cur.metadata.uid) {
      return fail(
        failure(
          409,
          "Conflict",
          `Operation cannot be fulfilled on ${def.plural}.${def.group} "${name}": Precondition failed: UID in precondition: ${preconditions.uid}, UID in object meta: ${cur.metadata.uid}`,
        ),
      );
    }
    if (propagation === "Foreground") {
      // The object stays (deletionTimestamp, foregroundDeletion finalizer) until what it owns is gone.
      const marked = this.store.update(def.plural, {
        ...cur,
        metadata: {
          ...cur.metadata,
          deletionTimestamp: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
          finalizers: [...(cur.metadata.finalizers ?? []), "foregroundDeletion"],
        },
      });
      this.ctl.later(() => {
        this.ctl.collectGarbage(cur.metadata.uid);
        this.store.remove(def.plural, ns, name);
      });
      return { status: 200, body: marked };
    }
    if (propagation === "Orphan") {
      for (const { resource, object } of this.store.ownedBy(cur.metadata.uid)) {
        this.store.update(resource, {
          ...object,
          metadata: { ...object.metadata, ownerReferences: object.metadata.ownerReferences?.filter((r) => r.uid !== cur.metadata.uid) ?? [] },
        });
      }
    }
    return { status: 200, body: this.store.remove(def.plural, ns, name) };
  }
}

const unescapePointer = (s: string) => s.replace(/~1/g, "/").replace(/~0/g, "~");

/** RFC 6902: add, replace, remove, test (what clients send for small edits). */
function applyJsonPatch(doc: KObject, ops: unknown): KObject | string {
  if (!Array.isArray(ops)) return "the patch must be a JSON array of operations";
  for (const op of ops as { op: string; path: string; value?: unknown }[]) {
    const parts = String(op.path ?? "")
      .split("/")
      .slice(1)
      .map(unescapePointer);
    const last = parts.pop();
    if (last === undefined) return `invalid path "${op.path}"`;
    let parent: Record<string, unknown> = doc as unknown as Record<string, unknown>;
    for (const p of parts) {
      const next = parent[p];
      if (typeof next !== "object" || next === null) return `doc is missing path: "${op.path}"`;
      parent = next as Record<string, unknown>;
    }
    if (op.op === "add" || op.op === "replace") {
      if (op.op === "replace" && !(last in parent)) return `replace operation does not apply: doc is missing key: ${op.path}`;
      if (Array.isArray(parent) && last === "-") parent.push(op.value);
      else parent[last] = op.value;
    } else if (op.op === "remove") {
      if (!(last in parent)) return `remove operation does not apply: doc is missing key: ${op.path}`;
      delete parent[last];
    } else if (op.op === "test") {
      if (JSON.stringify(parent[last]) !== JSON.stringify(op.value)) return `testing value ${op.path} failed`;
    } else return `unsupported patch operation "${op.op}"`;
  }
  return doc;
}

/** RFC 7386: objects merge, null removes, anything else replaces. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    typeof target === "object" && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}
