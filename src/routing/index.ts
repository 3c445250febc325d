import { ROUTE_STRATEGIES, type Profile, type Registration } from "../catalog/schema.js";
import { formatDuration, parseDuration } from "../duration.js";
import { accountFor } from "../credits/ledger.js";
import { formatCredits, reservationFor } from "../credits/amount.js";
import { type ErrorCode, SandboxerError } from "../errors.js";
import type { Host, RouteDecision, RouteEstimate, RouteRejection } from "../types.js";

export type { RoutingInputs } from "./types.js";
import type { RoutingInputs } from "./types.js";

export interface RouteRequest {
  /** `--extension`: pin one candidate. */
  extension?: string | undefined;
  /** `--route`: override the profile's strategy. */
  strategy?: string | undefined;
  /** `--host` / SANDBOXER_HOST: self-hosted candidates must have room there. */
  host?: string | undefined;
  /** For the credits check: the reservation is price x TTL on the project's account. */
  ttlSeconds?: number | undefined;
  /** The TTL was asked for (`--ttl`): a registration's `limits.maxTtl` below it rejects the candidate (a default TTL is clamped instead). */
  ttlExplicit?: boolean | undefined;
  project?: string | null | undefined;
  /** The account the hold draws on when it is not the project's (a pool refill: the pool account). */
  account?: string | undefined;
}

/** Measured p50 needs this many samples before it outranks the registration's estimate. */
export const MIN_SAMPLES = 3;

type Why = { why: string; kind: "credits" | "capacity" | "config" | "ttl" };

/** A registration's `limits.maxTtl` in seconds, or null when it sets none. */
export function registrationMaxTtl(reg: Registration): number | null {
  return reg.limits.maxTtl ? parseDuration(reg.limits.maxTtl, `${reg.id} limits.maxTtl`) : null;
}

interface Usable {
  id: string;
  index: number;
  selfHosted: boolean;
  price: number;
  ready: number;
  readySource: string;
  host: string | undefined;
  /** Warm pool members on this candidate (a claim, not a create). */
  warm: number;
}

/** The hosts a self-hosted candidate could use, in placement order. */
function placementHosts(profile: Profile, hosts: ReadonlyMap<string, Host>, requested: string | undefined): string[] {
  if (requested !== undefined) return [requested];
  const labelsOk = (h: Host) => profile.placement.labels.every((l) => h.labels.includes(l));
  const order = profile.placement.hosts.includes("*") ? [...hosts.keys()] : profile.placement.hosts;
  return order.filter((n) => {
    const h = hosts.get(n);
    return h !== undefined && labelsOk(h);
  });
}

function readyEstimate(inp: RoutingInputs | undefined, reg: Registration, id: string, host: string | undefined): { seconds: number; source: string } {
  const s = host !== undefined ? inp?.readyStats.get(`${id}@${host}`) : undefined;
  if (s && s.samples >= MIN_SAMPLES) return { seconds: s.p50Seconds, source: `measured p50 over ${s.samples}` };
  return { seconds: reg.expectedReadySeconds, source: "registration estimate" };
}

/** Why a candidate cannot serve this create right now, or its estimate when it can. */
function assess(profile: Profile, reg: Registration, inp: RoutingInputs | undefined, req: RouteRequest, index: number): Why | Usable {
  const id = reg.id;
  const info = inp?.extensions.get(id);
  const selfHosted = (info?.kind ?? "self-hosted") === "self-hosted";
  for (const need of requiredCapabilities(profile)) {
    if (info && !info.capabilities[need]) return { why: `lacks capability '${need}'`, kind: "config" };
  }
  // A warm member already holds its place: claiming it needs no room, only credits.
  const warm = warmOn(inp, profile, req, id);
  const max = reg.limits.maxSandboxes;
  const live = inp?.liveByExtension.get(id) ?? 0;
  if (!warm && max !== undefined && live >= max) return { why: `at its registration limit (${live}/${max} live)`, kind: "capacity" };
  const maxTtl = registrationMaxTtl(reg);
  if (req.ttlExplicit && req.ttlSeconds !== undefined && maxTtl !== null && req.ttlSeconds > maxTtl) {
    return { why: `ttl ${formatDuration(req.ttlSeconds)} is over its registration's limits.maxTtl ${reg.limits.maxTtl} (${reg.file})`, kind: "ttl" };
  }
  let host: string | undefined = warm?.host;
  if (inp && !warm) {
    const candidates = placementHosts(profile, inp.hosts, req.host);
    if (selfHosted) {
      const notes: string[] = [];
      for (const name of candidates) {
        const down = inp.downHosts.get(name);
        const cap = inp.hosts.get(name)?.maxSandboxes;
        const used = inp.liveByHost.get(name) ?? 0;
        if (down) notes.push(`${name} down (${down})`);
        else if (cap !== undefined && used >= cap) notes.push(`${name} full (${used}/${cap})`);
        else {
          host = name;
          break;
        }
      }
      if (host === undefined) return { why: notes.length ? `no host with room: ${notes.join(", ")}` : "no placement host in the inventory", kind: "capacity" };
    } else host = candidates[0];
  }
  if (reg.pricePerHour > 0 && inp && req.ttlSeconds !== undefined) {
    const account = req.account ?? accountFor(req.project);
    const need = reservationFor(reg.pricePerHour, req.ttlSeconds);
    const avail = inp.creditsAvailable.get(account) ?? 0;
    if (avail < need) return { why: `insufficient credits: needs ${formatCredits(need)}, account '${account}' has ${formatCredits(avail)}`, kind: "credits" };
  }
  const est = warm ? { seconds: 0, source: `warm pool (${warm.n} ready)` } : readyEstimate(inp, reg, id, host);
  return { id, index, selfHosted, price: reg.pricePerHour, ready: est.seconds, readySource: est.source, host, warm: warm?.n ?? 0 };
}

/** The first placement host with warm pool members of this candidate, and how many. */
function warmOn(inp: RoutingInputs | undefined, profile: Profile, req: RouteRequest, id: string): { host: string; n: number } | undefined {
  if (!inp?.warm?.size) return undefined;
  for (const host of placementHosts(profile, inp.hosts, req.host)) {
    const n = inp.warm.get(`${id}@${host}`) ?? 0;
    if (n > 0) return { host, n };
  }
  return undefined;
}

export function requiredCapabilities(profile: Profile): string[] {
  const req = profile.settings.requires;
  return Array.isArray(req) ? req.filter((x): x is string => typeof x === "string") : [];
}

const byListed = (a: Usable, b: Usable) => a.index - b.index;
/** With prefer-self-hosted and lowest-latency, a warm pool member on any candidate beats a cold create elsewhere. */
const warmFirst = (a: Usable, b: Usable) => Number(b.warm > 0) - Number(a.warm > 0);
const ORDER: Record<string, (a: Usable, b: Usable) => number> = {
  single: byListed,
  explicit: byListed,
  "prefer-self-hosted": (a, b) => warmFirst(a, b) || Number(b.selfHosted) - Number(a.selfHosted) || byListed(a, b),
  "lowest-cost": (a, b) => a.price - b.price || a.ready - b.ready || byListed(a, b),
  "lowest-latency": (a, b) => warmFirst(a, b) || a.ready - b.ready || a.price - b.price || byListed(a, b),
};

function reasonFor(strategy: string, profileId: string, first: Usable, rest: Usable[]): string {
  const est = `${first.price}/h, ready ~${round(first.ready)}s (${first.readySource})`;
  const others = rest.length ? `; next: ${rest.map((u) => `${u.id} ${u.price}/h ~${round(u.ready)}s`).join(", ")}` : "";
  if (first.warm > 0 && (strategy === "prefer-self-hosted" || strategy === "lowest-latency")) {
    const cold = rest.filter((u) => u.warm === 0);
    return `${strategy}: ${first.id} has ${first.warm} warm pool member(s)${first.host ? ` on ${first.host}` : ""}: a claim beats a cold create${cold.length ? ` on ${cold.map((u) => u.id).join(", ")}` : ""} (${est})${others}`;
  }
  switch (strategy) {
    case "single":
      return `${profileId} names ${first.id} (${est})`;
    case "explicit":
      return `explicit: ${first.id} is the first usable candidate (${est})${others}`;
    case "prefer-self-hosted":
      return first.selfHosted
        ? `prefer-self-hosted: ${first.id} is self-hosted with room${first.host ? ` on ${first.host}` : ""} (${est})${others}`
        : `prefer-self-hosted: no self-hosted candidate is usable, bursting to metered ${first.id} (${est})${others}`;
    case "lowest-cost":
      return `lowest-cost: ${first.id} at ${first.price}/h is the cheapest usable (${est})${others}`;
    default:
      return `lowest-latency: ${first.id} is the fastest to ready (${est})${others}`;
  }
}

const round = (n: number) => Math.round(n * 100) / 100;

/**
 * Pure routing: which extension serves this create, and why every other
 * candidate was passed over. Changes nothing; the broker stores the decision.
 * Without `inputs` (no store at hand) only registrations and pins are checked.
 */
export function decideRoute(profile: Profile, regs: ReadonlyMap<string, Registration>, req: RouteRequest = {}, inputs?: RoutingInputs): RouteDecision {
  const candidates = profile.extension ? [profile.extension] : (profile.route?.candidates ?? []);
  if (req.strategy !== undefined && !(ROUTE_STRATEGIES as readonly string[]).includes(req.strategy)) {
    throw new SandboxerError("SBX_USAGE", `route: '${req.strategy.slice(0, 40)}' is not one of ${ROUTE_STRATEGIES.join(", ")}`, {
      details: { field: "route" },
    });
  }
  const strategy = req.extension ? "explicit" : (req.strategy ?? profile.route?.strategy ?? "single");
  if (req.extension && !candidates.includes(req.extension)) {
    throw new SandboxerError(
      "SBX_EXTENSION_NOT_FOUND",
      `extension '${req.extension}' is not a candidate of ${profile.id} (candidates: ${candidates.join(", ")})`,
      { details: { field: "extension" } },
    );
  }
  const rejected: RouteRejection[] = [];
  const kinds = new Set<Why["kind"]>();
  const usable: Usable[] = [];
  candidates.forEach((id, index) => {
    const reg = regs.get(id);
    let verdict: Why | Usable;
    if (!reg) verdict = { why: "no registration in extensions/", kind: "config" };
    else if (!reg.enabled) verdict = { why: "disabled in its registration", kind: "config" };
    else if (req.extension && id !== req.extension) verdict = { why: `--extension ${req.extension} pins another`, kind: "config" };
    else verdict = assess(profile, reg, inputs, req, index);
    if ("why" in verdict) {
      rejected.push({ extension: id, why: verdict.why });
      if (!(req.extension && id !== req.extension)) kinds.add(verdict.kind);
    } else usable.push(verdict);
  });
  usable.sort(ORDER[strategy] ?? byListed);
  const [first, ...rest] = usable;
  if (!first) {
    const why = rejected.map((r) => `${r.extension}: ${r.why}`).join("; ");
    // Only the TTL stands in the way: bad input, named as such (exit 2), not a refusal.
    if (kinds.size === 1 && kinds.has("ttl")) {
      throw new SandboxerError("SBX_TTL_INVALID", `ttl: over what ${profile.id}'s extensions allow (${why})`, { details: { field: "ttl", rejected } });
    }
    const code: ErrorCode = kinds.has("credits") ? "SBX_INSUFFICIENT_CREDITS" : kinds.has("capacity") ? "SBX_NO_CAPACITY" : "SBX_EXTENSION_DISABLED";
    throw new SandboxerError(code, `no usable extension for ${profile.id} (${why})`, { details: { rejected, strategy } });
  }
  const estimates: RouteEstimate[] = usable.map((u) => ({
    extension: u.id,
    kind: u.selfHosted ? "self-hosted" : "metered",
    pricePerHour: u.price,
    readySeconds: round(u.ready),
    readySource: u.readySource,
    ...(u.host ? { host: u.host } : {}),
    ...(u.warm ? { warm: u.warm } : {}),
  }));
  const decision: RouteDecision = {
    chosen: first.id,
    strategy,
    reason: reasonFor(strategy, profile.id, first, rest),
    rejected,
    order: usable.map((u) => u.id),
    estimates,
  };
  if (first.host && inputs && (first.selfHosted || first.warm > 0)) decision.host = first.host;
  return decision;
}
