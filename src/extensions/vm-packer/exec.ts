/**
 * `sandboxer exec` in attach mode: argv runs on the VM over its SSH alias, in
 * the sandbox's workspace, with the caller's stdio. The remote side is a fixed
 * script; the workspace and argv travel as positional arguments, quoted once by
 * the transport, so spaces, quotes, `$VAR` and `;` arrive as the caller typed them.
 */
import { SandboxerError } from "../../errors.js";
import { runInSandbox } from "../../sandbox-shell/exec.js";
import type { ExecIo, ExecOptions, ExecResult, ExtensionContext, SandboxCommandOptions } from "../define.js";
import { vmTransport, withVm } from "./attach.js";
import type { AttachHandle } from "./handle.js";
import { script } from "./host-shell.js";

/** Exit 125 (as `env`/`nice` use for "could not run it"): the workspace is not there. */
const EXEC_IN_WORKSPACE = 'cd "$1" 2>/dev/null || exit 125; shift; exec "$@"';
const WORKSPACE_GONE = 125;
const IS_DIR = '[ -d "$1" ]';

export async function execAttach(ctx: ExtensionContext, h: AttachHandle, argv: string[], io: ExecIo, opts: ExecOptions = {}): Promise<ExecResult> {
  // withVm stops the ControlMaster (`ssh -O stop`) as soon as the command ends,
  // so an exec leaves no connection behind. We keep attach's ControlPersist of
  // 30 s rather than a shorter one: it only matters when this process dies
  // mid-command (Ctrl-C, kill -9) and cannot run that stop; the master then
  // exits 30 s after its last session closed, which bounds the leftover. A
  // shorter value would gain little (and `0` means "forever" to ssh); a master
  // another process opened (a concurrent create) is shared and keeps its own
  // opener's setting anyway.
  return withVm(ctx, h.vm, h.port, async (t) => {
    // The handshake first, on its own: a VM that is down or refuses us is
    // SBX_HOST_UNREACHABLE even when ssh's stderr goes to the user's terminal.
    await t.connect();
    const res = await runInSandbox(
      argv,
      io,
      opts,
      async (a, o) => t.commandArgv(script(EXEC_IN_WORKSPACE, h.workspace, ...a), { stdin: o.stdin, tty: o.tty ?? false }),
      scratchOf(h),
    );
    const lost = await t.connectionLost(res.exitCode, res.stderr);
    if (lost) throw lost;
    // 125 is also a command's own exit code: only a workspace that is really gone is an error.
    if (res.exitCode === WORKSPACE_GONE && (await t.run(script(IS_DIR, h.workspace))).code !== 0) {
      throw new SandboxerError(
        "SBX_INVALID_STATE",
        `workspace ${h.workspace} is gone on VM ${h.vm} (removed outside sand-boxer); run \`sandboxer reconcile\` to close the record`,
        {
          details: { id: ctx.sandbox.id, vm: h.vm, workspace: h.workspace },
        },
      );
    }
    return res;
  });
}

/** Pid files of timeouts and detached processes: inside the workspace, removed with it. */
export const scratchOf = (h: Pick<AttachHandle, "workspace">) => `${h.workspace}/.sandboxer`;

/**
 * The argv that runs `argv` in the workspace on the VM (files, detached
 * processes, terminals). Its ssh master is opened here and outlives the call
 * by attach's ControlPersist (30 s), so a burst of file calls shares one handshake.
 */
export async function attachCommand(ctx: ExtensionContext, h: AttachHandle, argv: string[], opts: SandboxCommandOptions): Promise<string[]> {
  const t = vmTransport(ctx, h.vm, h.port);
  await t.connect();
  return t.commandArgv(script(EXEC_IN_WORKSPACE, h.workspace, ...argv), { stdin: opts.stdin, tty: opts.tty ?? false });
}
