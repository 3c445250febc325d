/**
 * An interactive terminal for a caller that is not itself a terminal (the
 * API's WebSocket exec, `exec -it` through SANDBOXER_URL): the extension's
 * terminal argv (`sandboxCommand` with `tty`), run on a pty of this machine
 * (src/sandbox-shell/pty.ts), or the backend's own terminal API (the vendors',
 * broker/terminal-vendor.ts). The same checks as exec: a ready sandbox that
 * is no pool member, a backend with `capabilities.pty`, a valid service.
 */
import { SandboxerError } from "../errors.js";
import { SERVICE_NAME_RE } from "../extensions/define.js";
import { type PtySession, type PtySize, checkSize, startPty } from "../sandbox-shell/pty.js";
import { vendorSession } from "./terminal-vendor.js";
import { checkExecExtras } from "./agents-api.js";
import { getRow, hostOf, profileOf } from "./destroy.js";
import { extensionContext, extensionOf, type Runtime } from "./runtime.js";

export type TerminalSession = PtySession;

export interface TerminalOptions extends PtySize {
  service?: string | undefined;
}

export async function openTerminal(rt: Runtime, id: string, argv: string[], opts: TerminalOptions): Promise<TerminalSession> {
  const row = await getRow(rt, id);
  // A warm member is nobody's until a create claims it (docs/pools.md).
  if (row.pool) throw new SandboxerError("SBX_NOT_FOUND", `no sandbox '${id.slice(0, 64)}'`, { details: { id } });
  if (row.state !== "ready" || !row.handle) {
    throw new SandboxerError("SBX_INVALID_STATE", `${id} is ${row.state}; a terminal needs a ready sandbox`, { details: { id, state: row.state } });
  }
  if (!argv.length) throw new SandboxerError("SBX_USAGE", "a terminal needs a command (e.g. sh)", { details: { field: "cmd" } });
  const size = checkSize({ cols: opts.cols, rows: opts.rows });
  // Through the catalog: an extension registered with `module:` gives terminals too.
  const ext = await extensionOf(rt, row.extension);
  checkExecExtras(ext, row.extension, { tty: true });
  if (opts.service !== undefined) {
    if (!ext.capabilities.execService)
      throw new SandboxerError("SBX_INPUT_INVALID", `service: ${row.extension} sandboxes have no services; service applies to compose stacks`, {
        details: { field: "service" },
      });
    if (!SERVICE_NAME_RE.test(opts.service))
      throw new SandboxerError("SBX_INPUT_INVALID", `service: '${opts.service.slice(0, 40)}' is not a service name`, { details: { field: "service" } });
  }
  const ctx = extensionContext(rt, row, await profileOf(rt, row), hostOf(rt, row), new AbortController().signal);
  if (ext.sandboxCommand) return startPty(await ext.sandboxCommand(ctx, row.handle, argv, { service: opts.service, stdin: true, tty: true }), size);
  if (!ext.terminal) throw new SandboxerError("SBX_UNSUPPORTED", `${row.extension} cannot give a command a terminal`, { details: { field: "tty" } });
  return vendorSession(ext.terminal.bind(ext), ctx, row.handle, argv, size);
}
