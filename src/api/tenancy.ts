import type { Broker, CreateRequest } from "../broker.js";
import { SandboxerError } from "../errors.js";
import type { Caller } from "../tenancy/access.js";
import type { Sandbox } from "../types.js";
import type { CreateBodyT } from "./schemas.js";
import { notFound } from "./spec.js";
import type { Principal } from "./tokens.js";

/** `adm` sees everything; `agt` and `atm` only records of their own project. */
export function canSee(p: Principal, project: string | null | undefined): boolean {
  return p.actor === "adm" || (project ?? null) === p.project;
}

/**
 * The project filter a list route applies: `adm` asks for any (or none);
 * tenants get their own. `null` when a tenant asks for another project's list,
 * which is answered empty (not 403: other projects are not there for it).
 */
export function listScope(p: Principal, requested: string | undefined): { project: string | undefined } | null {
  if (p.actor === "adm") return { project: requested };
  if (requested !== undefined && requested !== p.project) return null;
  return { project: p.project ?? undefined };
}

/** The sandbox if this principal may see it; otherwise the same 404 as an unknown id. */
export async function visibleSandbox(broker: Broker, p: Principal, id: string): Promise<Sandbox> {
  let sb: Sandbox;
  try {
    sb = await broker.get(id);
  } catch (err) {
    if (err instanceof SandboxerError && err.code === "SBX_NOT_FOUND") throw notFound("sandbox", id);
    throw err;
  }
  if (!canSee(p, sb.project)) throw notFound("sandbox", id);
  return sb;
}

const KEY_RE = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * Idempotency keys live in one namespace per project (and one for operators),
 * so two tenants choosing the same key never meet. `_adm` cannot be a project
 * name (those start with a letter or digit).
 */
export function scopedKey(p: Principal, key: string | undefined): string | undefined {
  if (key === undefined) return undefined;
  if (!KEY_RE.test(key)) {
    throw new SandboxerError("SBX_USAGE", "Idempotency-Key: 1-64 characters of [A-Za-z0-9_.:-]", { details: { field: "Idempotency-Key" } });
  }
  return `${p.actor === "adm" ? "_adm" : p.project}:${key}`;
}

/** The broker request for a body, with the token's identity imposed on tenants. */
export function createRequestFor(p: Principal, body: CreateBodyT, key: string | undefined): CreateRequest {
  const inputs = body.inputs ? Object.fromEntries(Object.entries(body.inputs).map(([k, v]) => [k, String(v)])) : undefined;
  let actor: string | undefined = body.actor;
  let project = body.project;
  if (p.actor !== "adm") {
    if (actor !== undefined && actor !== p.actor) {
      throw new SandboxerError("SBX_FORBIDDEN", `actor: this token acts as ${p.actor}; it cannot create as ${actor}`, { details: { field: "actor" } });
    }
    if (project !== undefined && project !== p.project) {
      throw new SandboxerError("SBX_FORBIDDEN", `project: this token is bound to project '${p.project}'`, { details: { field: "project" } });
    }
    actor = p.actor;
    project = p.project ?? undefined;
  }
  return {
    profile: body.profile,
    inputs,
    host: body.host,
    ttl: body.ttl,
    route: body.route,
    extension: body.extension,
    actor,
    project,
    idempotencyKey: scopedKey(p, key),
    caller: callerOf(p),
  };
}

/** The broker's view of who asks (access and confinement follow it, src/tenancy/). */
export function callerOf(p: Principal): Caller {
  return { actor: p.actor, project: p.project };
}
