import type { Host } from "../types.js";

export interface CandidateInfo {
  kind: "self-hosted" | "metered";
  capabilities: Readonly<Record<string, boolean | undefined>>;
}

export interface ReadyStats {
  /** Median readyAt - createdAt of recent records, in seconds. */
  p50Seconds: number;
  samples: number;
}

/**
 * Everything routing looks at besides the profile and registrations,
 * gathered once per create by `gatherRoutingInputs` (a few indexed queries)
 * so the decision itself stays a pure function.
 */
export interface RoutingInputs {
  extensions: ReadonlyMap<string, CandidateInfo>;
  /** Keyed `${extension}@${host}`. */
  readyStats: ReadonlyMap<string, ReadyStats>;
  liveByExtension: ReadonlyMap<string, number>;
  /** Live sandboxes of self-hosted extensions per host (what `maxSandboxes` caps). */
  liveByHost: ReadonlyMap<string, number>;
  hosts: ReadonlyMap<string, Host>;
  /** Hosts seen unreachable recently, with why. */
  downHosts: ReadonlyMap<string, string>;
  /** Available (balance - reserved) micro-credits per account. */
  creditsAvailable: ReadonlyMap<string, number>;
  /** Warm pool members this create could claim, keyed `${extension}@${host}` (absent: no pool matched). */
  warm?: ReadonlyMap<string, number> | undefined;
}
