import { SandboxerError } from "../../errors.js";
import { isSshTransport } from "../../transport/ssh.js";
import { runInSandbox } from "../../sandbox-shell/exec.js";
import type { ExecIo, ExecOptions, ExecResult, ExtensionContext, SandboxCommandOptions } from "../define.js";

interface ServiceState {
  container?: string;
  state?: string;
}

/**
 * `sandboxer exec ID [--service S] -- CMD...` on a compose stack: `<cli> exec`
 * in the service's container, over the host's SSH master, in one session. The
 * container comes from the record's reachability (written when the stack was
 * ready), so no lookup session is needed; without --service, the first
 * running service in compose-file order.
 */
export async function composeExec(
  ctx: ExtensionContext,
  h: { cli: string; services: string[] },
  argv: string[],
  io: ExecIo,
  opts: ExecOptions,
): Promise<ExecResult> {
  const { service, container } = pickContainer(ctx, h, opts.service);
  const r = await runInSandbox(argv, io, opts, async (a, o) => containerCommand(ctx, h, a, o));
  // docker answers 125, podman 125 or 255, when exec itself failed (the container is gone or stopped).
  if ((r.exitCode === 125 || r.exitCode === 255) && /no such container|not running|is not running|container state improper/i.test(r.stderr ?? "")) {
    throw new SandboxerError("SBX_INVALID_STATE", `service '${service}' of ${ctx.sandbox.id} is not running (${container}); run \`sandboxer reconcile\``);
  }
  const lost = isSshTransport(ctx.transport) ? await ctx.transport.connectionLost(r.exitCode, r.stderr) : null;
  if (lost) throw lost;
  return r;
}

/** The service (asked for, or the first running one in compose-file order) and its container. */
function pickContainer(ctx: ExtensionContext, h: { services: string[] }, asked: string | undefined): { service: string; container: string } {
  const services = (ctx.sandbox.reachability?.services ?? {}) as Record<string, ServiceState>;
  const names = Object.keys(services);
  if (asked !== undefined && !services[asked]?.container) {
    throw new SandboxerError("SBX_INPUT_INVALID", `service: ${ctx.sandbox.id} has no service '${asked}' (services: ${names.join(", ") || "none"})`, {
      details: { field: "service" },
    });
  }
  const service = asked ?? h.services.find((s) => services[s]?.state === "running") ?? names.find((s) => services[s]?.state === "running");
  const container = service ? services[service]?.container : undefined;
  if (!service || !container)
    throw new SandboxerError("SBX_INVALID_STATE", `${ctx.sandbox.id} has no running service to run a command in; see \`sandboxer get ${ctx.sandbox.id}\``);
  return { service, container };
}

/**
 * `<cli> exec [-i] [-t] CONTAINER argv...` on the host, over its SSH master
 * (-tt for a terminal, so window size changes travel with the session).
 */
export function containerCommand(ctx: ExtensionContext, h: { cli: string; services: string[] }, argv: string[], opts: SandboxCommandOptions): string[] {
  const { container } = pickContainer(ctx, h, opts.service);
  const tty = opts.tty === true;
  const remote = [h.cli, "exec", ...(opts.stdin || tty ? ["-i"] : []), ...(tty ? ["-t"] : []), container, ...argv];
  return isSshTransport(ctx.transport) ? ctx.transport.commandArgv(remote, { stdin: opts.stdin || tty, tty }) : remote;
}
