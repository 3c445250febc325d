import { profileSchema, type Profile } from "../catalog/schema.js";
import { SandboxerError } from "../errors.js";
import { crashPoint } from "../faults.js";
import { DESTROYABLE } from "../lifecycle.js";
import { publicRecord } from "../store/rows.js";
import type { SandboxUpdate } from "../store/types.js";
import { type DestroyReason, type Host, LOCALHOST, type Sandbox, type SandboxRow } from "../types.js";
import { teardownQuietly } from "./create.js";
import { NO_OWNER, ownedBy, ownerAlive } from "./owner.js";
import { eventFor, extensionContext, nowIso, type Runtime, transition, extensionOf } from "./runtime.js";

/** How long `destroy` waits for a live owner to cancel a provisioning sandbox (Packer gets 60s to clean up). */
const CANCEL_WAIT_MS = 120_000;

export async function getRow(rt: Runtime, id: string): Promise<SandboxRow> {
  const row = await rt.store.sandboxes.get(id);
  if (!row) throw new SandboxerError("SBX_NOT_FOUND", `no sandbox '${id.slice(0, 64)}'`, { details: { id } });
  return row;
}

/** The profile a record was made from; a stand-in if it has since left the catalog (teardown must still work). */
export async function profileOf(rt: Runtime, row: SandboxRow): Promise<Profile> {
  const found = (await rt.catalog()).profiles.get(row.profile);
  if (found) return found;
  const fallback = profileSchema.parse({ id: row.profile, version: row.profileVersion, extension: row.extension });
  return { ...fallback, file: "(removed)" };
}

export function hostOf(rt: Runtime, row: SandboxRow): Host {
  if (row.host === "localhost") return LOCALHOST;
  const h = rt.config().hosts.get(row.host);
  if (!h) throw new SandboxerError("SBX_HOST_NOT_FOUND", `host '${row.host}' of ${row.id} is no longer in the inventory`, { details: { field: "host" } });
  return h;
}

/**
 * Tear down a row this process has already moved to `destroying`, then record
 * `destroyed` (or `destroy_failed`, which reap retries).
 */
export async function finishDestroy(rt: Runtime, row: SandboxRow, reason: DestroyReason, note?: string): Promise<SandboxRow> {
  const ext = await extensionOf(rt, row.extension);
  const ctx = extensionContext(rt, row, await profileOf(rt, row), hostOf(rt, row), new AbortController().signal);
  const failure = await teardownQuietly(ext, ctx, row.handle);
  if (failure) {
    const failed = await transition(
      rt,
      row,
      ["destroying"],
      "destroy_failed",
      { error: { code: "SBX_TEARDOWN_FAILED", message: failure }, ...NO_OWNER },
      { reason, error: failure },
    );
    throw new SandboxerError("SBX_TEARDOWN_FAILED", `${row.id}: teardown failed: ${failure} (reap retries it)`, {
      details: { id: row.id, state: failed?.state ?? null },
    });
  }
  const patch: SandboxUpdate = {
    destroyedAt: row.destroyedAt ?? nowIso(rt),
    reason: row.reason === "failed-provision" ? "failed-provision" : reason,
    ...NO_OWNER,
  };
  if (note) patch.error = { code: "SBX_NOT_FOUND", message: note };
  const done = await transition(rt, row, ["destroying"], "destroyed", patch, { reason: patch.reason });
  return done ?? getRow(rt, row.id);
}

export async function applyDestroy(rt: Runtime, id: string, reason: DestroyReason = "user"): Promise<Sandbox> {
  const row = await getRow(rt, id);
  if (row.state === "destroyed") return publicRecord(row);
  if (!DESTROYABLE.includes(row.state)) {
    if (ownerAlive(rt.owner, row)) {
      if (row.state === "provisioning" && (await cancelOwner(rt, row))) return applyDestroy(rt, id, reason);
      throw new SandboxerError(
        "SBX_BUSY",
        `${id} is ${row.state}, owned by live process ${row.ownerPid} on ${row.ownerReplica ?? "this machine"}; retry when it settles`,
        { details: { id, state: row.state } },
      );
    }
    throw new SandboxerError("SBX_INVALID_STATE", `${id} is ${row.state} and its owner died; run \`sandboxer reconcile\``, {
      details: { id, state: row.state },
    });
  }
  const claimed = await transition(rt, row, DESTROYABLE, "destroying", { ...ownedBy(rt.owner), reason: row.reason ?? reason }, { reason });
  if (!claimed) {
    throw new SandboxerError("SBX_BUSY", `${id} changed state under us (another destroy?); look again with \`sandboxer get ${id}\``, { details: { id } });
  }
  crashPoint("destroying");
  return publicRecord(await finishDestroy(rt, claimed, reason));
}

/**
 * Ask the live process provisioning `row` to cancel (its create watches for
 * this event, aborts the extension and tears down), and wait until the record
 * settles. True when it did; the caller then destroys what is left.
 */
async function cancelOwner(rt: Runtime, row: SandboxRow): Promise<boolean> {
  await rt.store.events.append(eventFor(rt, "sandbox.cancel_requested", row, { byPid: rt.owner.pid }));
  const until = Date.now() + CANCEL_WAIT_MS;
  while (Date.now() < until) {
    await new Promise((r) => setTimeout(r, 200));
    const cur = await rt.store.sandboxes.get(row.id);
    if (!cur || (cur.state !== "provisioning" && cur.state !== "requested")) return true;
    if (!ownerAlive(rt.owner, cur)) return false;
  }
  return false;
}
