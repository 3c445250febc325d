import { resolveInputs } from "../catalog/inputs.js";
import type { Catalog } from "../catalog/load.js";
import type { Profile, Registration } from "../catalog/schema.js";
import { parseDuration } from "../duration.js";
import { type ErrorCode, SandboxerError } from "../errors.js";
import { decideRoute, registrationMaxTtl, type RoutingInputs } from "../routing/index.js";
import { type Caller, checkAccess } from "../tenancy/access.js";
import { redactInputs, refuseUnkeptSecrets } from "../tenancy/secrets.js";
import { ACTOR_TYPES, type ActorType, type Host, type RouteDecision, type RouteRejection } from "../types.js";

/** What a consumer asks for: the CLI flags of `create`, the body of `POST /v1/sandboxes`. */
export interface CreateRequest {
  profile?: string | undefined;
  inputs?: Record<string, string> | undefined;
  host?: string | undefined;
  ttl?: string | undefined;
  route?: string | undefined;
  extension?: string | undefined;
  actor?: string | undefined;
  project?: string | undefined;
  idempotencyKey?: string | undefined;
  /**
   * Who asks (the API token's principal); unset = the local operator (adm),
   * whatever `actor` the record is made for. Access and input confinement
   * follow the caller (src/tenancy/).
   */
  caller?: Caller | undefined;
  /** Set by the broker only (never from a request body): a pool refill's hold draws on the pool account. */
  account?: string | undefined;
}

export interface CreatePlan {
  profile: Profile;
  registration: Registration;
  route: RouteDecision;
  host: Host;
  /** What the extension gets (confined paths resolved, template names replaced by their path). */
  inputs: Record<string, string>;
  /** What the record keeps: secrets replaced by a placeholder, template names as given. */
  recorded: Record<string, string>;
  ttlSeconds: number;
  actor: ActorType;
  project: string | null;
  mode: string | null;
}

export const DEFAULT_PROFILE = "profile.sandbox-canary";
const PROJECT_RE = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const IDEMPOTENCY_RE = /^[A-Za-z0-9_.:-]{1,128}$/;

export interface PlanContext {
  catalog: Catalog;
  hosts: ReadonlyMap<string, Host>;
  /** SANDBOXER_HOST: applies when the request names no host. */
  hostOverride?: string | undefined;
  defaults?: { profile?: string | undefined; actor?: string | undefined; project?: string | undefined };
  /** Live counts, measured latency, host health and credits (src/routing/inputs.ts); absent = registrations only. */
  routing?: RoutingInputs | undefined;
}

/**
 * Pure planning: resolve the profile, validate every input, pick the route and
 * the host. Throws a SandboxerError naming the field; touches nothing.
 */
export function planCreate(req: CreateRequest, ctx: PlanContext): CreatePlan {
  const profileId = req.profile ?? ctx.defaults?.profile ?? DEFAULT_PROFILE;
  const profile = ctx.catalog.profiles.get(profileId);
  if (!profile) {
    const bad = ctx.catalog.errors.find((e) => e.file.endsWith(`${profileId}.yaml`));
    if (bad)
      throw new SandboxerError("SBX_PROFILE_INVALID", `profile '${profileId}' is invalid: ${bad.file}: ${bad.field}: ${bad.message}`, {
        details: { field: "profile" },
      });
    throw new SandboxerError("SBX_PROFILE_NOT_FOUND", `profile '${profileId}' does not exist (see: sandboxer profiles list)`, {
      details: { field: "profile" },
    });
  }
  checkAccess(profile, req.caller);
  const actor = req.actor ?? ctx.defaults?.actor ?? "adm";
  if (!(ACTOR_TYPES as readonly string[]).includes(actor)) {
    throw new SandboxerError("SBX_USAGE", `actor: '${actor.slice(0, 20)}' must be one of ${ACTOR_TYPES.join(", ")}`, { details: { field: "actor" } });
  }
  const project = req.project ?? ctx.defaults?.project ?? null;
  if (project !== null && !PROJECT_RE.test(project)) {
    throw new SandboxerError("SBX_USAGE", "project: must be a name of lowercase letters, digits, '_', '.', '-' (at most 63)", {
      details: { field: "project" },
    });
  }
  if (req.idempotencyKey !== undefined && !IDEMPOTENCY_RE.test(req.idempotencyKey)) {
    throw new SandboxerError("SBX_USAGE", "idempotency key: 1-128 characters of [A-Za-z0-9_.:-]", { details: { field: "idempotencyKey" } });
  }
  const inputs = resolveInputs(profile.inputs, req.inputs ?? {});
  refuseUnkeptSecrets(profile.inputs, inputs);
  let ttlSeconds = planTtl(profile, req.ttl);
  let route: RouteDecision;
  try {
    route = decideRoute(
      profile,
      ctx.catalog.registrations,
      {
        extension: req.extension,
        strategy: req.route,
        host: req.host ?? ctx.hostOverride,
        ttlSeconds,
        ttlExplicit: req.ttl !== undefined,
        project,
        account: req.account,
      },
      ctx.routing,
    );
  } catch (err) {
    throw asRefusal(err, profile.id, ttlSeconds, project);
  }
  const registration = ctx.catalog.registrations.get(route.chosen) as Registration;
  // A default TTL longer than the chosen extension allows is cut to its limits.maxTtl (an asked-for one was refused above).
  ttlSeconds = Math.min(ttlSeconds, registrationMaxTtl(registration) ?? ttlSeconds);
  const named = req.host ?? ctx.hostOverride;
  const host = pickHost(profile, ctx.hosts, named ?? route.host, req.host !== undefined ? "--host" : "SANDBOXER_HOST");
  if (named !== undefined && !inPlacement(profile, host)) {
    route.reason = `${route.reason}; on ${host.name} by ${req.host !== undefined ? "--host" : "SANDBOXER_HOST"}, overriding the placement (${profile.placement.hosts.join(", ")})`;
  }
  const mode = inputs.mode ?? profile.mode ?? null;
  return { profile, registration, route, host, inputs, recorded: redactInputs(profile.inputs, inputs), ttlSeconds, actor: actor as ActorType, project, mode };
}

/**
 * A create the route refuses (no credits, no capacity, every candidate
 * disabled) is still an answer for `route explain` and `POST /v1/plan`: the
 * decision with every rejected candidate and why, and the refusal a create
 * would get. The create itself throws it as usual.
 */
export interface Refusal {
  code: ErrorCode;
  message: string;
  profile: string;
  strategy: string;
  ttlSeconds: number;
  project: string | null;
  rejected: RouteRejection[];
}

const REFUSALS: readonly ErrorCode[] = ["SBX_INSUFFICIENT_CREDITS", "SBX_NO_CAPACITY", "SBX_EXTENSION_DISABLED"];

function asRefusal(err: unknown, profile: string, ttlSeconds: number, project: string | null): unknown {
  if (!(err instanceof SandboxerError) || !REFUSALS.includes(err.code) || !Array.isArray(err.details?.rejected)) return err;
  return new SandboxerError(err.code, err.message, {
    cause: err.cause,
    details: {
      ...err.details,
      refusal: {
        code: err.code,
        message: err.message,
        profile,
        strategy: String(err.details.strategy ?? ""),
        ttlSeconds,
        project,
        rejected: err.details.rejected,
      },
    },
  });
}

/** The refusal a plan error carries, when routing refused the create (see Refusal). */
export function refusalOf(err: unknown): Refusal | null {
  const r = err instanceof SandboxerError ? err.details?.refusal : undefined;
  return r && typeof r === "object" ? (r as Refusal) : null;
}

export function planTtl(profile: Profile, ttl: string | undefined): number {
  const max = parseDuration(profile.ttl.max, "profile ttl.max");
  if (ttl === undefined) return Math.min(parseDuration(profile.ttl.default, "profile ttl.default"), max);
  const seconds = parseDuration(ttl, "ttl");
  if (seconds > max) {
    throw new SandboxerError("SBX_TTL_INVALID", `ttl: ${ttl} is over the maximum ${profile.ttl.max} of ${profile.id}`, { details: { field: "ttl" } });
  }
  return seconds;
}

/** Is `h` one of the profile's placement hosts, with the labels it requires? */
export function inPlacement(profile: Profile, h: Host): boolean {
  const listed = profile.placement.hosts.includes("*") || profile.placement.hosts.includes(h.name);
  return listed && profile.placement.labels.every((l) => h.labels.includes(l));
}

/**
 * The requested host, or the first placement host that exists and carries the
 * required labels. A requested host (`--host`, SANDBOXER_HOST) overrides the
 * placement: any inventory host may be named, unless the profile says
 * `placement: { locked: true }`. Only inventory names are ever accepted.
 */
export function pickHost(profile: Profile, hosts: ReadonlyMap<string, Host>, requested: string | undefined, source = "--host"): Host {
  if (requested !== undefined) {
    const h = hosts.get(requested);
    if (!h) {
      throw new SandboxerError("SBX_HOST_NOT_FOUND", `host: '${requested.slice(0, 64)}' is not in the hosts inventory (see: sandboxer hosts list)`, {
        details: { field: "host" },
      });
    }
    if (profile.placement.locked && !inPlacement(profile, h)) {
      const where = `${profile.placement.hosts.join(", ")}${profile.placement.labels.length ? ` with labels ${profile.placement.labels.join(", ")}` : ""}`;
      throw new SandboxerError(
        "SBX_HOST_NOT_FOUND",
        `host: '${h.name}' (${source}) is refused: ${profile.id} is locked to its placement (${where}; placement.locked)`,
        { details: { field: "host" } },
      );
    }
    return h;
  }
  const order = profile.placement.hosts.includes("*") ? [...hosts.keys()] : profile.placement.hosts;
  for (const name of order) {
    const h = hosts.get(name);
    if (h && inPlacement(profile, h)) return h;
  }
  throw new SandboxerError("SBX_HOST_NOT_FOUND", `no host in the inventory satisfies the placement of ${profile.id}`, { details: { field: "host" } });
}
