import { SandboxerError } from "../errors.js";
import type { ExecIo, ExecOptions, ExecResult, SandboxCommandOptions } from "../extensions/define.js";
import { spawnExec } from "../extensions/exec-process.js";
import { runProcess } from "../transport/local.js";
import { DEFAULT_SCRATCH, groupExecArgv, groupKillArgv, groupName } from "./group.js";

export type CommandFor = (argv: string[], opts: SandboxCommandOptions) => Promise<string[]>;

/**
 * `exec` for a backend that has a local command into its sandboxes: the
 * caller's stdio (or the API's stdin and streaming), a terminal when asked,
 * and with `timeoutMs` or `signal` the command runs as its own process group
 * inside the sandbox, which a second command kills whole when the time is up
 * or the caller goes away.
 */
export async function runInSandbox(argv: string[], io: ExecIo, opts: ExecOptions, commandFor: CommandFor, scratch = DEFAULT_SCRATCH): Promise<ExecResult> {
  if (opts.tty && (io.stdin !== "inherit" || io.stdout !== "inherit" || io.stderr !== "inherit")) {
    throw new SandboxerError("SBX_USAGE", "a terminal (-t) needs the caller's own stdin, stdout and stderr");
  }
  const service = opts.service;
  const stdin = opts.stdin !== undefined || io.stdin === "inherit";
  if (opts.timeoutMs === undefined && opts.signal === undefined) {
    const local = await commandFor(argv, { service, stdin, tty: opts.tty ?? false });
    return spawnExec(local, io, { stdin: opts.stdin, onOutput: opts.onOutput });
  }
  const name = groupName();
  const local = await commandFor(groupExecArgv(scratch, name, argv), { service, stdin, tty: opts.tty ?? false });
  const r = await spawnExec(local, io, {
    stdin: opts.stdin,
    onOutput: opts.onOutput,
    timeoutMs: opts.timeoutMs,
    signal: opts.signal,
    async stopGroup() {
      const kill = await commandFor(groupKillArgv(scratch, name, "KILL"), { service, stdin: false });
      // Exit 3 (no group yet: the caller left at once) is not final: spawnExec tries again until the command has ended.
      await runProcess(kill, { timeoutMs: 30_000 });
    },
  });
  // A command that ended by itself removed its pid file; a killed group left it.
  if (r.timedOut || r.cancelled) {
    const rm = await commandFor(["rm", "-f", "--", `${scratch}/${name}`], { service, stdin: false });
    await runProcess(rm, { timeoutMs: 30_000 }).catch(() => undefined);
  }
  return r;
}
