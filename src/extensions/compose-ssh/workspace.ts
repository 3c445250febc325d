import { posix } from "node:path";
import { SandboxerError } from "../../errors.js";
import { SANDBOX_ID_RE } from "../../ids.js";
import type { ExtensionContext } from "../define.js";
import { workspaceRootOf } from "./compose.js";
import { PREPARE, WS_MARKER } from "./scripts.js";

/**
 * A sandbox's workspace on its host: `<root>/<id>`, the root as configured
 * (`~/` = the SSH user's home) until the host has resolved it.
 */
export function workspaceOf(ctx: Pick<ExtensionContext, "host">, id: string): string {
  if (!SANDBOX_ID_RE.test(id)) throw new SandboxerError("SBX_INTERNAL", `not a sandbox id: ${id.slice(0, 40)}`);
  return posix.join(workspaceRootOf(ctx.host), id);
}

const tail = (text: string) => text.trim().split("\n").filter(Boolean).slice(-1).join("");

/** Resolve and check the host's workspace root (created 0700 if missing) and make this sandbox's workspace in it. */
export async function prepareWorkspace(ctx: ExtensionContext): Promise<string> {
  const res = await ctx.transport.run(["sh", "-c", PREPARE, "sh", workspaceRootOf(ctx.host), ctx.sandbox.id], { signal: ctx.signal });
  if (res.code === 91) throw rootRefused(ctx, res.stderr);
  const resolved = resolvedWorkspace(res.stdout);
  if (res.code !== 0 || !resolved) {
    throw new SandboxerError("SBX_PROVISION_FAILED", `cannot create ${workspaceOf(ctx, ctx.sandbox.id)} on ${ctx.host.name}: ${res.stderr.trim().slice(-300)}`);
  }
  return resolved.path;
}

/** The workspace path the host printed after WS_MARKER, and the output without that line. */
export function resolvedWorkspace(stdout: string): { path: string; rest: string } | null {
  const at = stdout.indexOf(WS_MARKER);
  if (at < 0) return null;
  const end = stdout.indexOf("\n", at);
  const path = stdout.slice(at + WS_MARKER.length, end < 0 ? undefined : end).trim();
  return path.startsWith("/") ? { path, rest: stdout.slice(0, at) + (end < 0 ? "" : stdout.slice(end + 1)) } : null;
}

export function rootRefused(ctx: ExtensionContext, stderr: string): SandboxerError {
  return new SandboxerError(
    "SBX_PROVISION_FAILED",
    `host '${ctx.host.name}': ${tail(stderr) || `workspace root ${workspaceRootOf(ctx.host)} refused`} (hosts.${ctx.host.name}.workspaceRoot; see docs/runbooks/compose-e2e.md)`,
    {
      details: { host: ctx.host.name, workspaceRoot: workspaceRootOf(ctx.host) },
    },
  );
}
