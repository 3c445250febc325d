import type { SandboxEvent } from "../../types.js";
import { noExtraPositionals, parse } from "../args.js";
import type { CliContext } from "../context.js";

const USAGE = "sandboxer events [ID] [--follow] [--since-seq N] [--limit N] [--json] | sandboxer events flush [--json]";

function line(e: SandboxEvent): string {
  const msg = typeof e.data.message === "string" ? e.data.message : e.data.reason ? `reason=${e.data.reason}` : e.data.from ? `from ${e.data.from}` : "";
  return `${e.at}  ${String(e.seq).padStart(5)}  ${e.sandboxId ?? "-"}  ${e.type.padEnd(20)}  ${msg}`.trimEnd();
}

export async function events(cx: CliContext, argv: string[]): Promise<number> {
  if (argv[0] === "flush") return flush(cx, argv.slice(1));
  const { values, positionals } = parse(argv, { follow: { type: "boolean", short: "f" }, "since-seq": { type: "string" }, limit: { type: "string" } }, USAGE);
  noExtraPositionals(positionals, 1, USAGE);
  const sandboxId = positionals[0];
  const broker = cx.broker();
  if (sandboxId) await broker.get(sandboxId); // 404 early for an unknown id
  let after = Number(values["since-seq"] ?? 0) || 0;
  const limit = Math.min(Number(values.limit ?? 1000) || 1000, 100_000);
  const batch = await broker.events({ sandboxId, afterSeq: after, limit });
  if (!values.follow) {
    if (cx.out.json) cx.out.data(batch);
    else for (const e of batch) cx.out.print(line(e));
    return 0;
  }
  // Follow: newline-delimited JSON with --json (one event per line), polling the store.
  const emit = (e: SandboxEvent) => (cx.out.json ? cx.out.print(JSON.stringify(e)) : cx.out.print(line(e)));
  for (const e of batch) emit(e);
  after = batch.at(-1)?.seq ?? after;
  let stop = false;
  const onSignal = () => {
    stop = true;
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  while (!stop) {
    await new Promise((r) => setTimeout(r, 150));
    for (const e of await broker.events({ sandboxId, afterSeq: after, limit: 1000 })) {
      emit(e);
      after = e.seq;
    }
  }
  return 0;
}

/**
 * `events flush`: deliver every undelivered event now, whatever its backoff
 * says (an operator flushes because the hub is back). Exit 0 when nothing is
 * left; 1 when something could not be delivered, saying why.
 */
async function flush(cx: CliContext, argv: string[]): Promise<number> {
  const { values } = parse(argv, { budget: { type: "string" } }, "sandboxer events flush [--budget SECONDS] [--json]");
  const seconds = Math.max(1, Number(values.budget ?? 30) || 30);
  const report = await cx.broker().flushEvents(seconds * 1000, { all: true });
  if (!report) {
    const pending = (await cx.broker().outboxStats()).pending;
    const result = { delivered: 0, failed: 0, pending, lastError: null, note: "no State Hub configured (SANDBOXER_STATE_HUB_URL): events stay in the outbox" };
    if (cx.out.json) cx.out.data(result);
    else cx.out.print(`no State Hub configured (SANDBOXER_STATE_HUB_URL); ${pending} event(s) stay in the outbox`);
    return 0;
  }
  const why = report.failed > 0 ? report.lastError : report.pending > 0 ? `the ${seconds}s budget ran out (--budget SECONDS for longer)` : null;
  if (cx.out.json) cx.out.data({ ...report, ...(why ? { why } : {}) });
  else {
    cx.out.print(`delivered ${report.delivered}, pending ${report.pending}`);
    if (why) process.stderr.write(`error: ${report.pending} event(s) not delivered: ${why}\n`);
  }
  return report.pending > 0 ? 1 : 0;
}
