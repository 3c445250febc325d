import { SandboxerError } from "../errors.js";
import { type ExecIo, type ExecOptions, type ExecResult, SERVICE_NAME_RE } from "../extensions/define.js";
import { checkExecExtras } from "./agents-api.js";
import { getRow, hostOf, profileOf } from "./destroy.js";
import { extensionContext, type Runtime, extensionOf } from "./runtime.js";

/** Run argv (no shell) inside a ready sandbox through its extension. */
export async function execIn(rt: Runtime, id: string, argv: string[], io: ExecIo, opts: ExecOptions = {}): Promise<ExecResult> {
  const row = await getRow(rt, id);
  if (row.state !== "ready" || !row.handle) {
    throw new SandboxerError("SBX_INVALID_STATE", `${id} is ${row.state}; exec needs a ready sandbox`, { details: { id, state: row.state } });
  }
  const ext = await extensionOf(rt, row.extension);
  if (!ext.exec) throw new SandboxerError("SBX_UNSUPPORTED", `${row.extension} cannot run commands in its sandboxes`);
  if (!argv.length) throw new SandboxerError("SBX_USAGE", "exec needs a command after --");
  if (opts.service !== undefined) {
    if (!ext.capabilities.execService)
      throw new SandboxerError("SBX_INPUT_INVALID", `service: ${row.extension} sandboxes have no services; --service applies to compose stacks`, {
        details: { field: "service" },
      });
    if (!SERVICE_NAME_RE.test(opts.service))
      throw new SandboxerError("SBX_INPUT_INVALID", `service: '${opts.service.slice(0, 40)}' is not a service name`, { details: { field: "service" } });
  }
  checkExecExtras(ext, row.extension, opts);
  // The caller already left (a client that disconnected while we looked the sandbox up): start nothing.
  if (opts.signal?.aborted) throw new SandboxerError("SBX_CANCELLED", `exec in ${id}: the caller went away before the command started`);
  const ctx = extensionContext(rt, row, await profileOf(rt, row), hostOf(rt, row), new AbortController().signal);
  return ext.exec(ctx, row.handle, argv, io, opts);
}
