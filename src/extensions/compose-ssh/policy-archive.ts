import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SandboxerError } from "../../errors.js";
import type { SnapshotSource } from "../../snapshots/types.js";
import { runProcess } from "../../transport/local.js";
import { enforceComposePolicy } from "./policy-check.js";

// bash for pipefail: a broken archive must not pass as an empty stack. Named volumes stay packed: the policy never reads them.
const UNPACK = `set -o pipefail
case "$3" in tar+zstd) dec="zstd -q -d -c" ;; tar+gzip) dec="gzip -d -c" ;; *) echo "unknown format $3" >&2; exit 2 ;; esac
$dec < "$1" | tar -C "$2" --no-same-owner --no-same-permissions --exclude=./.sandboxer/volumes -xf -`;

/**
 * A restore starts the stack the snapshot holds, which a container with a bind
 * of the stack directory may have rewritten since its create was checked: unpack
 * the archive here, in a private temp dir, and check that stack before anything
 * goes to the host.
 */
export async function enforceOnArchive(source: SnapshotSource, file: string, profile: { id: string; settings: Record<string, unknown> }, signal?: AbortSignal): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "sbx-policy-"));
  try {
    const res = await runProcess(["bash", "-c", UNPACK, "unpack", source.path, dir, source.format], signal ? { signal } : {});
    if (res.code !== 0) {
      throw new SandboxerError("SBX_SNAPSHOT_CORRUPT", `snapshot ${source.id}: cannot unpack the archive to check its compose stack: ${res.stderr.trim().slice(-300)}`, { details: { id: source.id } });
    }
    enforceComposePolicy(dir, file, profile);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
