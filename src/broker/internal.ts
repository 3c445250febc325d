/**
 * The runtime behind a local broker, for tests and benchmarks that drive an
 * extension directly (contract tests, stale detection). Nothing under src/
 * but the broker itself may import this file (scripts/check-imports.mjs).
 */
import type { Broker } from "../broker.js";
import { SandboxerError } from "../errors.js";
import type { Extension, ExtensionContext } from "../extensions/define.js";
import type { SandboxRow } from "../types.js";
import { getRow, hostOf, profileOf } from "./destroy.js";
import { extensionContext, type Runtime, extensionOf } from "./runtime.js";

const runtimes = new WeakMap<Broker, Runtime>();

export function registerRuntime(broker: Broker, rt: Runtime): void {
  runtimes.set(broker, rt);
}

export function runtimeOf(broker: Broker): Runtime {
  const rt = runtimes.get(broker);
  if (!rt) throw new SandboxerError("SBX_UNSUPPORTED", "not a local broker (SANDBOXER_URL?)");
  return rt;
}

/** The extension and a context for one record. */
export async function contextFor(broker: Broker, id: string): Promise<{ row: SandboxRow; extension: Extension; ctx: ExtensionContext }> {
  const rt = runtimeOf(broker);
  const row = await getRow(rt, id);
  const extension = await extensionOf(rt, row.extension);
  const ctx = extensionContext(rt, row, await profileOf(rt, row), hostOf(rt, row), new AbortController().signal);
  return { row, extension, ctx };
}
