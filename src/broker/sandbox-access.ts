/**
 * What the file, process and terminal operations share: the ready sandbox's
 * extension and context, checked inputs (paths, service), and a runner that
 * executes fixed scripts inside the sandbox over `sandboxCommand`.
 */
import { posix } from "node:path";
import type { Readable, Writable } from "node:stream";
import type { Profile } from "../catalog/schema.js";
import { SandboxerError } from "../errors.js";
import { type Extension, type ExtensionContext, SERVICE_NAME_RE } from "../extensions/define.js";
import type { SandboxRunner } from "../sandbox-shell/files.js";
import { pipeInto } from "../transport/pipe-into.js";
import { streamProcess } from "../transport/stream.js";
import type { Handle, SandboxRow } from "../types.js";
import { getRow, hostOf, profileOf } from "./destroy.js";
import { extensionContext, type Runtime, extensionOf } from "./runtime.js";

export interface OpenSandbox {
  row: SandboxRow;
  ext: Extension;
  ctx: ExtensionContext;
  handle: Handle;
  profile: Profile;
}

export type Feature = "files" | "processes" | "pty";

const FEATURE_WORDS: Record<Feature, string> = { files: "files in and out", processes: "detached processes", pty: "interactive terminals" };

/** A ready sandbox whose extension offers `feature`; SBX_UNSUPPORTED otherwise. */
export async function openSandbox(rt: Runtime, id: string, feature: Feature, service?: string): Promise<OpenSandbox> {
  const row = await getRow(rt, id);
  if (row.state !== "ready" || !row.handle) {
    throw new SandboxerError("SBX_INVALID_STATE", `${id} is ${row.state}; ${FEATURE_WORDS[feature]} need a ready sandbox`, {
      details: { id, state: row.state },
    });
  }
  const ext = await extensionOf(rt, row.extension);
  const own = feature === "files" ? ext.files : feature === "processes" ? ext.processes : undefined;
  const able = ext.capabilities[feature] === true && Boolean(own || ext.sandboxCommand);
  if (!able)
    throw new SandboxerError("SBX_UNSUPPORTED", `${row.extension} does not offer ${FEATURE_WORDS[feature]} for its sandboxes`, {
      details: { extension: row.extension },
    });
  checkService(ext, row.extension, service);
  const profile = await profileOf(rt, row);
  const ctx = extensionContext(rt, row, profile, hostOf(rt, row), new AbortController().signal);
  return { row, ext, ctx, handle: row.handle, profile };
}

export function checkService(ext: Extension, extensionId: string, service: string | undefined): void {
  if (service === undefined) return;
  if (!ext.capabilities.execService)
    throw new SandboxerError("SBX_INPUT_INVALID", `service: ${extensionId} sandboxes have no services; --service applies to compose stacks`, {
      details: { field: "service" },
    });
  if (!SERVICE_NAME_RE.test(service))
    throw new SandboxerError("SBX_INPUT_INVALID", `service: '${service.slice(0, 40)}' is not a service name`, { details: { field: "service" } });
}

/**
 * A path inside the sandbox as callers give it: absolute, or relative to the
 * sandbox's working directory (its workspace). Normalised; a relative path
 * may not climb above the workspace with `..` (say it absolutely instead).
 */
export function checkPath(raw: unknown, field = "path"): string {
  if (typeof raw !== "string" || raw === "") throw new SandboxerError("SBX_USAGE", `${field}: a path inside the sandbox is required`, { details: { field } });
  if (raw.length > 4096) throw new SandboxerError("SBX_INPUT_INVALID", `${field}: longer than 4096 characters`, { details: { field } });
  // NUL cannot reach a command line; newlines would break the listings' line protocol.
  if (/[\0\n\r]/.test(raw)) throw new SandboxerError("SBX_INPUT_INVALID", `${field}: may not contain NUL or line breaks`, { details: { field } });
  const norm = posix.normalize(raw);
  if (norm === ".." || norm.startsWith("../")) {
    throw new SandboxerError(
      "SBX_INPUT_INVALID",
      `${field}: '${raw.slice(0, 200)}' climbs out of the workspace with '..'; give an absolute path inside the sandbox`,
      { details: { field } },
    );
  }
  return norm.length > 1 ? norm.replace(/\/+$/, "") : norm;
}

/** Runs argv inside the sandbox over the extension's `sandboxCommand`, streaming both ways. */
export function runnerFor(s: OpenSandbox, service: string | undefined): SandboxRunner {
  const command = s.ext.sandboxCommand;
  if (!command) throw new SandboxerError("SBX_UNSUPPORTED", `${s.row.extension} cannot run commands in its sandboxes`);
  return {
    sandboxId: s.row.id,
    root: s.ext.fileRoot?.(s.ctx, s.handle) ?? null,
    async stream(argv: string[], opts: { stdin?: Readable; stdout?: Writable }) {
      const local = await command.call(s.ext, s.ctx, s.handle, argv, { service, stdin: Boolean(opts.stdin) });
      const res = await streamProcess(local, opts);
      if (res.code === 255 && /ssh|connection|Connection/.test(res.stderr)) {
        throw new SandboxerError("SBX_HOST_UNREACHABLE", `${s.row.id} on ${s.row.host}: ${res.stderr.trim().split("\n").slice(-2).join("; ")}`, {
          details: { host: s.row.host },
        });
      }
      return res;
    },
    async pipe(producer: readonly string[], argv: string[], limit: number) {
      const local = await command.call(s.ext, s.ctx, s.handle, argv, { service, stdin: true });
      const res = await pipeInto(producer, local, { limit });
      if (res.code === 255 && /ssh|connection|Connection/.test(res.stderr)) {
        throw new SandboxerError("SBX_HOST_UNREACHABLE", `${s.row.id} on ${s.row.host}: ${res.stderr.trim().split("\n").slice(-2).join("; ")}`, {
          details: { host: s.row.host },
        });
      }
      return res;
    },
  };
}
