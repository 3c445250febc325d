/**
 * `extend-ttl` for metered sandboxes: the reservation grows with the TTL
 * (inside the extend transaction, refused like a create when the account
 * cannot cover it), and a SaaS backend's own timeout is moved to the new
 * expiry so the vendor does not kill (or keep billing) out of step with us.
 */
import { hostOf, profileOf } from "../broker/destroy.js";
import { extensionContext, type Runtime } from "../broker/runtime.js";
import { SandboxerError, toSandboxerError } from "../errors.js";
import { loadExtension } from "../extensions/index.js";
import type { SandboxRow } from "../types.js";
import { extendReservation } from "./ledger.js";

/** Call inside the extend transaction with the row before and the new TTL in seconds. */
export function holdForExtension(rt: Runtime, row: SandboxRow, newTtlSeconds: number): void {
  const extra = newTtlSeconds - (row.ttlSeconds ?? 0);
  if (extra > 0) extendReservation(rt, row, extra);
}

/** After the record is extended: tell the backend, when it keeps an expiry of its own. */
export async function followTtl(rt: Runtime, row: SandboxRow): Promise<void> {
  if (row.state !== "ready" || !row.handle || !row.expiresAt) return;
  const ext = await loadExtension(row.extension);
  if (!ext.extendTtl) return;
  const ctx = extensionContext(rt, row, await profileOf(rt, row), hostOf(rt, row), new AbortController().signal);
  try {
    await ext.extendTtl(ctx, row.handle, new Date(row.expiresAt));
  } catch (err) {
    const e = toSandboxerError(err, "SBX_PROVISION_FAILED");
    throw new SandboxerError(e.code, `${row.id}: the record now expires at ${row.expiresAt}, but ${row.extension} could not follow: ${e.message}`, { cause: err, details: { id: row.id } });
  }
}
