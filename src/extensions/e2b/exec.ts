/**
 * `sandboxer exec` on E2B: the command goes to the sandbox's envd (the SDK's
 * `commands.run`, a Connect server stream `process.Process/Start`), reached
 * through the control plane's connect call, which hands out the envd token.
 */
import { SandboxerError } from "../../errors.js";
import { shellJoin } from "../../transport/quote.js";
import type { ExecIo, ExecOptions, ExecResult } from "../define.js";
import { ExecOutput, execResult } from "../exec-process.js";
import { feedStdin, stdinOf } from "../saas/exec-stdin.js";
import { vendorError } from "../saas/vendor.js";

/** The parts of the `e2b` SDK the extension uses (loaded lazily by index.ts). */
export type E2bSdk = { Sandbox: typeof import("e2b").Sandbox; CommandExitError: typeof import("e2b").CommandExitError };
type ConnOpts = NonNullable<Parameters<E2bSdk["Sandbox"]["connect"]>[1]>;

/** Errors that say nothing about whether the sandbox still exists (no probe needed). */
const NOT_ABOUT_EXISTENCE = /^(AuthenticationError|RateLimitError|InvalidArgumentError)$/;

/**
 * Whatever is not the command's own exit. A sandbox gone on E2B's side is
 * SBX_INVALID_STATE: the control plane's 404 at connect says so; a failure
 * once connected (502 from the sandbox proxy, the stream cut when the VM went
 * away) is checked with the control plane, so a flaky proxy is not mistaken
 * for a dead sandbox. Anything else (auth, rate limits, 5xx, timeouts) keeps
 * the vendor mapping, as SBX_EXEC_FAILED.
 */
async function explain(sdk: E2bSdk, sandboxerId: string, sandboxId: string, conn: ConnOpts, err: unknown, connected: boolean): Promise<SandboxerError> {
  if (err instanceof SandboxerError) return err;
  const name = (err as Error)?.name ?? "";
  let gone = !connected && name === "SandboxNotFoundError";
  if (!gone && connected && !NOT_ABOUT_EXISTENCE.test(name)) {
    const { timeoutMs: _keep, ...probe } = conn;
    gone = await sdk.Sandbox.getInfo(sandboxId, { ...probe, signal: AbortSignal.timeout(10_000) }).then(
      () => false,
      (e: unknown) => (e as Error)?.name === "SandboxNotFoundError",
    );
  }
  if (gone) {
    return new SandboxerError(
      "SBX_INVALID_STATE",
      `${sandboxerId}: the E2B sandbox ${sandboxId} no longer runs on E2B (killed or expired); destroy this sandbox or run \`sandboxer reconcile\``,
      {
        cause: err,
        details: { id: sandboxerId, vendor: "e2b", sandboxId },
      },
    );
  }
  const mapped = vendorError("e2b", "exec", err);
  return new SandboxerError("SBX_EXEC_FAILED", `${sandboxerId}: ${mapped.message}`, { cause: err, details: { id: sandboxerId, ...mapped.details } });
}

/**
 * Run argv in the E2B sandbox named by the handle. E2B takes one command
 * string and runs it as `/bin/bash -l -c CMD` in the user's home; the string is
 * our argv quoted once by shellJoin (never concatenated), so every argument
 * arrives intact. With stdin (saas/exec-stdin.ts) the command starts with
 * `stdin: true` in the background and its input goes by `sendStdin`, then
 * `closeStdin` (EOF); without, envd gives it none.
 */
export async function execInSandbox(
  sdk: E2bSdk,
  sandboxerId: string,
  sandboxId: string,
  argv: string[],
  io: ExecIo,
  conn: ConnOpts,
  opts: ExecOptions = {},
): Promise<ExecResult> {
  const onOutput = opts.onOutput;
  const input = stdinOf(io, opts);
  const cmd = shellJoin(argv);
  const out = new ExecOutput(io.stdout, process.stdout, onOutput && ((c) => onOutput("stdout", c)));
  const err = new ExecOutput(io.stderr, process.stderr, onOutput && ((c) => onOutput("stderr", c)));
  let exitCode: number;
  let connected = false;
  try {
    // connect (not the constructor): it resumes a paused sandbox and returns the envd token,
    // which is a secret and so never stored in the handle.
    const sb = await sdk.Sandbox.connect(sandboxId, conn);
    connected = true;
    const runOpts = {
      // The SDK awaits these: waiting for an inherited write gives the stream backpressure.
      onStdout: (s: string) => out.push(s),
      onStderr: (s: string) => err.push(s),
      // The command runs as long as it needs (the SDK's default cuts it at 60 s);
      // requestTimeoutMs still bounds the wait for envd to start it.
      timeoutMs: 0,
      ...(conn.requestTimeoutMs ? { requestTimeoutMs: conn.requestTimeoutMs } : {}),
      ...(conn.signal ? { signal: conn.signal } : {}),
    };
    if (input) {
      const handle = await sb.commands.run(cmd, { ...runOpts, background: true, stdin: true });
      const feeding = feedStdin(
        input,
        (d) => handle.sendStdin(d),
        () => handle.closeStdin(),
      );
      try {
        exitCode = (await handle.wait()).exitCode;
      } finally {
        feeding.stop();
      }
    } else {
      exitCode = (await sb.commands.run(cmd, runOpts)).exitCode;
    }
  } catch (e) {
    // A non-zero exit is the command's answer, not a failure of exec.
    if (e instanceof sdk.CommandExitError) exitCode = e.exitCode;
    else throw await explain(sdk, sandboxerId, sandboxId, conn, e, connected);
  }
  return execResult(exitCode, out, err);
}
