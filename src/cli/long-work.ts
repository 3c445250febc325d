import type { CreateRequest } from "../broker.js";
import type { Sandbox } from "../types.js";
import { parseInputs } from "./args.js";
import type { CliContext } from "./context.js";
import { startSpinner } from "./progress.js";

/** The flags `create`, `route explain` and `restore` share (the body of a create request). */
export const REQUEST_FLAGS = {
  profile: { type: "string" },
  input: { type: "string", multiple: true, short: "i" },
  host: { type: "string" },
  ttl: { type: "string" },
  route: { type: "string" },
  extension: { type: "string" },
  actor: { type: "string" },
  project: { type: "string" },
} as const;

type RequestValues = { [K in keyof typeof REQUEST_FLAGS]?: K extends "input" ? string[] : string };

/** The create request those flags describe (`--input k=v` pairs checked here). */
export function requestFrom(values: RequestValues): CreateRequest {
  return {
    profile: values.profile,
    inputs: parseInputs(values.input),
    host: values.host,
    ttl: values.ttl,
    route: values.route,
    extension: values.extension,
    actor: values.actor,
    project: values.project,
  };
}

/**
 * Run a create-like operation with a spinner on stderr (terminals only, never
 * with --json) and Ctrl-C / SIGTERM turned into a clean cancel: the broker tears
 * down what was made. A second Ctrl-C quits at once.
 */
export async function withProgress(cx: CliContext, label: string, work: (signal: AbortSignal) => Promise<Sandbox>): Promise<Sandbox> {
  const spinner = startSpinner(!cx.out.json && cx.out.stderrIsTty, label);
  cx.onProgress = (n) => spinner.update(n);
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) process.exit(130);
    spinner.stop();
    process.stderr.write("cancelling: tearing down what was created (Ctrl-C again to quit at once)\n");
    controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    return await work(controller.signal);
  } finally {
    spinner.stop();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
