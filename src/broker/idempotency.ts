import { createHash } from "node:crypto";
import { isErrorCode, SandboxerError } from "../errors.js";
import { publicRecord } from "../store/rows.js";
import type { Repos } from "../store/types.js";
import type { Sandbox, SandboxRow, SandboxState } from "../types.js";
import type { CreateRequest } from "./plan.js";

/**
 * A stable digest of what a create asked for (everything but the key itself),
 * so a retry can be told apart from a different request that reuses a key.
 */
export function requestFingerprint(req: CreateRequest): string {
  const inputs = Object.fromEntries(Object.entries(req.inputs ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const canon = [req.profile, inputs, req.host, req.ttl, req.route, req.extension, req.actor, req.project].map((v) => v ?? null);
  return createHash("sha256").update(JSON.stringify(canon)).digest("hex");
}

/**
 * The record an earlier create with this key made, or undefined if none.
 * Throws SBX_IDEMPOTENCY_CONFLICT when the key was used for a different request.
 */
export async function priorFor(db: Repos, key: string, fingerprint: string): Promise<SandboxRow | undefined> {
  const prior = await db.sandboxes.findByIdempotencyKey(key);
  if (!prior) return undefined;
  const kept = await db.idempotency.get(key);
  // Records made before fingerprints were kept cannot be compared: treat them as the same request.
  if (kept && kept.requestHash !== fingerprint) {
    throw new SandboxerError(
      "SBX_IDEMPOTENCY_CONFLICT",
      `idempotency key '${key}' was already used for a different request (sandbox ${prior.id}); use a new key`,
      {
        details: { field: "idempotencyKey" },
      },
    );
  }
  return prior;
}

/** Keep the fingerprint; call inside the transaction that inserts the sandbox. */
export function rememberKey(t: Repos, key: string, fingerprint: string, sandboxId: string, at: string): Promise<void> {
  return t.idempotency.put(key, fingerprint, sandboxId, at);
}

const SETTLING: readonly SandboxState[] = ["requested", "provisioning"];

/**
 * Answer a retry the way the first call was answered: the earlier create's
 * record once it has settled. Another process (or request) may still be
 * provisioning it (on this replica or another), so wait, reading the store, while its owner lives; a prior
 * that failed answers with its error. `onRecord` hears the record at once
 * (`POST ?wait=false` answers 202 with it).
 */
export async function settledPrior(
  db: Repos,
  prior: SandboxRow,
  opts: { signal?: AbortSignal | undefined; onRecord?: ((sb: Sandbox) => void) | undefined },
  ownerAlive: (row: SandboxRow) => boolean,
): Promise<Sandbox> {
  opts.onRecord?.(publicRecord(prior));
  let cur = prior;
  while (SETTLING.includes(cur.state) && ownerAlive(cur) && !opts.signal?.aborted) {
    await new Promise((r) => setTimeout(r, 100));
    cur = (await db.sandboxes.get(prior.id)) ?? cur;
  }
  if (cur.state === "failed" && cur.error) {
    const code = isErrorCode(cur.error.code) ? cur.error.code : "SBX_PROVISION_FAILED";
    throw new SandboxerError(code, `${cur.id}: ${cur.error.message}`, { details: { id: cur.id } });
  }
  return publicRecord(cur);
}
