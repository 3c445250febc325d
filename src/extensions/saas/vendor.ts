/**
 * What the metered SaaS extensions share: reading credentials from the
 * environment (never from records), and turning a vendor SDK's error into a
 * SandboxerError that says which vendor, which operation and what to do.
 */
import type { Env } from "../../config.js";
import { SandboxerError } from "../../errors.js";

/** A required setting from the environment, or SBX_DEPENDENCY_MISSING naming it (failover may try the next backend). */
export function requireEnv(env: Env, vendor: string, name: string): string {
  const v = env[name];
  if (!v) throw new SandboxerError("SBX_DEPENDENCY_MISSING", `${vendor}: ${name} is not set (see docs/routing.md, "Metered backends")`);
  return v;
}

/** Milliseconds from an env var, within bounds, else the default. */
export function envMs(env: Env, name: string, fallback: number): number {
  const n = Number(env[name]);
  return Number.isFinite(n) && n > 0 && n <= 600_000 ? n : fallback;
}

/** gRPC status codes (Modal) as the HTTP status they mean, so one mapping serves every vendor. */
const GRPC_AS_HTTP: Record<number, number> = { 4: 504, 5: 404, 7: 403, 8: 429, 13: 500, 14: 503, 16: 401, 2: 500 };

function statusOf(err: unknown): number | undefined {
  const e = err as { statusCode?: unknown; status?: unknown; response?: { status?: unknown }; code?: unknown; name?: string };
  if (e?.name === "ClientError" && typeof e.code === "number") return GRPC_AS_HTTP[e.code] ?? 500;
  for (const v of [e?.statusCode, e?.status, e?.response?.status]) if (typeof v === "number") return v;
  const m = /^(\d{3}):/.exec((err as Error)?.message ?? "");
  return m ? Number(m[1]) : undefined;
}

/**
 * Map a vendor error to a clear SandboxerError. Auth, rate limits, server
 * errors and timeouts all become SBX_PROVISION_FAILED during create (so the
 * route may fail over); `op` names the call in the message.
 */
export function vendorError(vendor: string, op: string, err: unknown): SandboxerError {
  if (err instanceof SandboxerError) return err;
  const name = (err as Error)?.name ?? "";
  const message = ((err as Error)?.message ?? String(err)).split("\n")[0]?.slice(0, 300) ?? "";
  const status = statusOf(err);
  let why: string;
  if (status === 401 || status === 403 || /Authentication/i.test(name)) why = `credentials rejected (${status ?? 401}): check the API key`;
  else if (status === 429 || /RateLimit/i.test(name)) why = "rate limited (429): retry later or lower concurrency";
  else if (status === 504 || /Timeout|Abort/i.test(name) || /timed? ?out|aborted|no answer within/i.test(message)) why = "no answer in time (timeout)";
  else if (status !== undefined && status >= 500) why = `server error (${status})`;
  else if (status === 404) why = "not found (404)";
  else why = status ? `HTTP ${status}` : "request failed";
  return new SandboxerError("SBX_PROVISION_FAILED", `${vendor} ${op}: ${why}: ${message}`, {
    cause: err,
    details: { vendor, op, ...(status ? { status } : {}) },
  });
}
