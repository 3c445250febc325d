import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SandboxerError } from "../../errors.js";
import type { SnapshotSource } from "../../snapshots/types.js";
import { runProcess } from "../../transport/local.js";
import { enforceComposePolicy } from "./policy-check.js";
import { composeInRestored } from "./restore-source.js";

// bash for pipefail: a broken archive must not pass as an empty stack. Named volumes stay packed: the policy never reads them.
const UNPACK = `set -o pipefail
case "$3" in tar+zstd) dec="zstd -q -d -c" ;; tar+gzip) dec="gzip -d -c" ;; *) echo "unknown format $3" >&2; exit 2 ;; esac
$dec < "$1" | tar -C "$2" --no-same-owner --no-same-permissions --exclude=./.sandboxer/volumes -xf -`;

/**
 * A restore starts the stack the snapshot holds, which a container with a bind
 * of the stack directory may have rewritten since its create was checked: unpack
 * the archive here, in a private temp dir, and check that stack before anything
 * goes to the host. Returns the stack's compose file and services.
 */
export async function enforceOnArchive(
  source: SnapshotSource,
  input: { compose_file?: string | undefined },
  profile: { id: string; settings: Record<string, unknown> },
  signal?: AbortSignal,
): Promise<{ file: string; services: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), "sbx-policy-"));
  try {
    const res = await runProcess(["bash", "-c", UNPACK, "unpack", source.path, dir, source.format], signal ? { signal } : {});
    if (res.code !== 0) {
      throw new SandboxerError(
        "SBX_SNAPSHOT_CORRUPT",
        `snapshot ${source.id}: cannot unpack the archive to check its compose stack: ${res.stderr.trim().slice(-300)}`,
        { details: { id: source.id } },
      );
    }
    // The stack is the snapshot's own: its compose file is found here, where it is checked.
    const stack = composeInRestored(dir, input);
    enforceComposePolicy(dir, stack.file, profile);
    return stack;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
