import { parseDuration } from "../../duration.js";
import { SandboxerError } from "../../errors.js";
import { type ReaperPass, startReaper } from "../../reaper.js";
import { noExtraPositionals, parse, requirePositional } from "../args.js";
import type { CliContext } from "../context.js";
import { ago, table, until } from "../output.js";

export async function extendTtl(cx: CliContext, argv: string[]): Promise<number> {
  const usage = "sandboxer extend-ttl ID --duration 2h [--json]";
  const { values, positionals } = parse(argv, { duration: { type: "string" } }, usage);
  noExtraPositionals(positionals, 1, usage);
  const id = requirePositional(positionals, 0, "ID", usage);
  if (values.duration === undefined) throw new SandboxerError("SBX_USAGE", `missing --duration\nusage: ${usage}`, { details: { field: "duration" } });
  const sb = await cx.broker().extendTtl(id, values.duration);
  if (cx.out.json) cx.out.data(sb);
  else cx.out.print(`${sb.id}  expires ${sb.expiresAt} (${until(sb.expiresAt)})`);
  return 0;
}

export async function expire(cx: CliContext, argv: string[]): Promise<number> {
  const usage = "sandboxer expire [--apply] [--json]";
  const { values, positionals } = parse(argv, { apply: { type: "boolean" } }, usage);
  noExtraPositionals(positionals, 0, usage);
  const report = await cx.broker().expire({ apply: Boolean(values.apply) });
  if (cx.out.json) {
    cx.out.data({ applied: Boolean(values.apply), ...report });
    return report.errors.length ? 1 : 0;
  }
  if (!report.expired.length) {
    cx.out.note("no expired sandboxes");
    return 0;
  }
  const now = new Date();
  const status = (id: string) =>
    !values.apply ? "expired" : report.destroyed.includes(id) ? "destroyed (ttl)" : report.skipped.includes(id) ? "taken by another" : "error";
  cx.out.print(
    table(
      ["ID", "PROFILE", "EXTENSION", "HOST", "EXPIRED", "STATUS"],
      report.expired.map((s) => [s.id, s.profile, s.extension, s.host, ago(s.expiresAt, now), status(s.id)]),
    ),
  );
  for (const e of report.errors) cx.out.note(`error: ${e.id}: ${e.message}`);
  if (!values.apply) cx.out.note("(dry run: `sandboxer expire --apply` destroys them with reason ttl)");
  return report.errors.length ? 1 : 0;
}

/** One line per pass; a daemon says when it runs next, a single pass (`--once`) does not. */
function summary(p: ReaperPass, once = false): string {
  if (!p.acted) return `${p.at} standby: lease held by ${p.heldBy ?? "?"}`;
  const parts = [
    `expired ${p.expired?.destroyed.length ?? 0}`,
    `retried ${p.retried?.destroyed.length ?? 0}`,
    `reconciled ${p.reconciled?.actions.length ?? 0}`,
    `orphans ${p.reconciled?.orphans.length ?? 0}`,
  ];
  const errors = [
    ...p.errors,
    ...(p.expired?.errors ?? []).map((e) => `${e.id}: ${e.message}`),
    ...(p.retried?.errors ?? []).map((e) => `${e.id}: ${e.message}`),
  ];
  return `${p.at} ${parts.join(", ")}${errors.length ? `; errors: ${errors.join("; ")}` : ""}${once ? "" : `; next in ${(p.nextInMs / 1000).toFixed(1)}s`}`;
}

/**
 * Foreground reaper daemon. With --json it prints one JSON object per pass
 * (JSON lines), since a daemon has no single final document; --once runs a
 * single pass and prints it as one document.
 */
export async function reaper(cx: CliContext, argv: string[]): Promise<number> {
  const usage = "sandboxer reaper [--interval 30s] [--once] [--json]";
  const { values, positionals } = parse(argv, { interval: { type: "string" }, once: { type: "boolean" } }, usage);
  noExtraPositionals(positionals, 0, usage);
  const intervalMs = parseDuration(values.interval ?? "30s", "interval") * 1000;
  const broker = cx.broker();
  const emit = (p: ReaperPass) => (cx.out.json ? process.stdout.write(`${JSON.stringify(p)}\n`) : cx.out.print(summary(p)));
  if (values.once) {
    const { createReaper } = await import("../../reaper.js");
    const r = createReaper(broker, { intervalMs });
    const pass = await r.tick();
    // One refill pass of the warm pools too, under the same lease (docs/pools.md).
    const pools = pass.acted ? await r.refill() : null;
    await broker.releaseLease("reaper", r.holder);
    if (cx.out.json) cx.out.data({ ...pass, pools });
    else
      cx.out.print(
        `${summary(pass, true)}${pools ? `; pools: ${pools.pools.map((p) => `${p.key} +${p.created.length} -${p.destroyed.length}`).join(", ") || "none"}` : ""}`,
      );
    return pass.errors.length || pools?.pools.some((p) => p.errors.length) ? 1 : 0;
  }
  const r = startReaper(broker, { intervalMs, onPass: emit });
  if (!cx.out.json) cx.out.note(`reaper ${r.holder} running every ${values.interval ?? "30s"} (Ctrl-C to stop)`);
  const stop = () => {
    void r.stop();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    await r.done;
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
  if (!cx.out.json) cx.out.note("reaper stopped; lease released");
  return 0;
}
