/** Detached processes: `ps ID`, `logs ID PID [--follow]`, `kill ID PID [--signal S]` (started by `exec --detach`). */
import type { ProcessInfo } from "../../broker.js";
import { SandboxerError } from "../../errors.js";
import { noExtraPositionals, parse, requirePositional } from "../args.js";
import type { CliContext } from "../context.js";
import { ago, table } from "../output.js";

export function describeProcess(p: ProcessInfo): string {
  const end = p.state === "running" ? "running" : `${p.state}${p.exitCode !== null ? ` (exit ${p.exitCode})` : ""}${p.signal ? ` (${p.signal})` : ""}`;
  return `${p.pid}  ${end}  ${p.argv.join(" ")}`;
}

export async function ps(cx: CliContext, argv: string[]): Promise<number> {
  const usage = "sandboxer ps ID [--json]";
  const { positionals } = parse(argv, {}, usage);
  noExtraPositionals(positionals, 1, usage);
  const rows = await cx.broker().listProcesses(requirePositional(positionals, 0, "ID", usage));
  if (cx.out.json) {
    cx.out.data(rows);
    return 0;
  }
  if (!rows.length) {
    cx.out.note("no detached processes (start one: sandboxer exec --detach ID -- CMD...)");
    return 0;
  }
  const now = new Date();
  cx.out.print(
    table(
      ["PID", "STATE", "EXIT", "STARTED", "ENDED", "COMMAND"],
      rows.map((p) => [
        p.pid,
        p.state,
        p.exitCode === null ? (p.signal ?? "-") : String(p.exitCode),
        ago(p.startedAt, now),
        ago(p.endedAt, now),
        p.argv.join(" ").slice(0, 80),
      ]),
    ),
  );
  return 0;
}

export async function logs(cx: CliContext, argv: string[]): Promise<number> {
  const usage = "sandboxer logs ID PID [--follow] [--offset N]";
  const { values, positionals } = parse(argv, { follow: { type: "boolean", short: "f" }, offset: { type: "string" } }, usage);
  noExtraPositionals(positionals, 2, usage);
  const id = requirePositional(positionals, 0, "ID", usage);
  const pid = requirePositional(positionals, 1, "PID", usage);
  let offset = values.offset === undefined ? 0 : Number(values.offset);
  if (!Number.isSafeInteger(offset) || offset < 0) throw new SandboxerError("SBX_USAGE", "--offset: a byte offset >= 0", { details: { field: "offset" } });
  const broker = cx.broker();
  let stop = false;
  const onSignal = () => {
    stop = true;
  };
  process.once("SIGINT", onSignal);
  try {
    for (;;) {
      const r = await broker.processOutput(id, pid, { offset, maxBytes: 1024 * 1024 });
      if (r.dropped) process.stderr.write(`[sandboxer: ${r.dropped} bytes of earlier output are no longer kept]\n`);
      if (r.data) await new Promise<void>((ok) => process.stdout.write(r.data, () => ok()));
      offset = r.nextOffset;
      if (r.done || stop) return 0;
      if (!values.follow && r.data === "") return 0;
      // More may be waiting right now: poll again at once while a read came back full.
      if (r.data === "") await new Promise((ok) => setTimeout(ok, 200));
    }
  } finally {
    process.off("SIGINT", onSignal);
  }
}

export async function kill(cx: CliContext, argv: string[]): Promise<number> {
  const usage = "sandboxer kill ID PID [--signal TERM|KILL|INT|HUP|...] [--json]";
  const { values, positionals } = parse(argv, { signal: { type: "string", short: "s" } }, usage);
  noExtraPositionals(positionals, 2, usage);
  const p = await cx.broker().killProcess(requirePositional(positionals, 0, "ID", usage), requirePositional(positionals, 1, "PID", usage), values.signal);
  if (cx.out.json) cx.out.data(p);
  else cx.out.print(describeProcess(p));
  return 0;
}
