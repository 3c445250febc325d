import type { StaleReport } from "../../broker.js";
import { SandboxerError } from "../../errors.js";
import { noExtraPositionals, parse } from "../args.js";
import type { CliContext } from "../context.js";
import { table } from "../output.js";

const GIB = 1024 ** 3;
const gib = (v: unknown) => (typeof v === "number" ? `${(v / GIB).toFixed(1)}G` : "-");

/** `inspect host [NAME]` and `inspect stale [--host NAME]`: read-only views of the hosts. */
export async function inspect(cx: CliContext, argv: string[]): Promise<number> {
  const usage = "sandboxer inspect host [NAME] | inspect stale [--host NAME] [--json]";
  const { positionals, values } = parse(argv, { host: { type: "string" } }, usage);
  const sub = positionals[0];
  const broker = cx.broker();
  if (sub === "host") {
    noExtraPositionals(positionals, 2, usage);
    const reports = await broker.inspectHosts(positionals[1]);
    if (cx.out.json) cx.out.data(positionals[1] ? reports[0] : reports);
    else {
      cx.out.print(
        table(
          ["HOST", "REACHABLE", "KERNEL", "CPUS", "MEM FREE/TOTAL", "DISK FREE", "COMPOSE", "RUNTIME", "RECORDS", "ON HOST"],
          reports.map((r) => [
            r.name,
            r.reachable ? "yes" : "NO",
            String(r.facts?.kernel ?? "-"),
            String(r.facts?.cpus ?? "-"),
            `${gib(r.facts?.memoryAvailableBytes ?? r.facts?.memoryFreeBytes)}/${gib(r.facts?.memoryBytes)}`,
            gib(r.facts?.diskFreeBytes),
            String(r.facts?.compose ?? "-"),
            String(r.facts?.runtime ?? "-"),
            String(r.sandboxes.byRecord.length),
            String(r.sandboxes.byLabel.length),
          ]),
        ),
      );
      for (const r of reports) if (r.limits) cx.out.print(limitsLine(r.name, r.limits));
      for (const r of reports) if (r.error) cx.out.note(`${r.name}: ${r.error}`);
    }
    return reports.some((r) => !r.reachable) && positionals[1] ? 1 : 0;
  }
  if (sub === "stale") {
    noExtraPositionals(positionals, 1, usage);
    const report = await broker.inspectStale({ host: values.host });
    if (cx.out.json) cx.out.data(report);
    else printStale(cx, report);
    return 0;
  }
  throw new SandboxerError("SBX_USAGE", `${sub ? `unknown subcommand '${sub.slice(0, 40)}'` : "missing subcommand"}\nusage: ${usage}`);
}

/** One line: which mechanism each ext.local limit would use on this host. */
function limitsLine(host: string, l: Record<string, unknown>): string {
  const cg = l.cgroups as { version: string; controllers: Record<string, { version: number | null; writable: boolean }> };
  const by = Object.entries(cg.controllers).map(([c, v]) => `${c}=${v.writable ? `cgroup-v${v.version}` : "rlimit-or-none"}`);
  const disk = (l.disk as { mechanism: string }).mechanism;
  return `${host} limits: cgroups ${cg.version}; ${by.join(" ")} disk=${disk} (details: --json)`;
}

function printStale(cx: CliContext, r: StaleReport): void {
  for (const h of r.hosts) if (h.error) cx.out.note(`${h.name}: ${h.reachable ? "" : "unreachable: "}${h.error}`);
  for (const u of r.unlisted ?? []) cx.out.note(`${u.host}: ${u.extension} could not list its resources (not judged): ${u.message}`);
  if (!r.orphans.length && !r.ghosts.length) {
    cx.out.print("nothing stale");
    return;
  }
  if (r.orphans.length) {
    cx.out.print(
      table(
        ["HOST", "SANDBOX", "KIND", "REF", "RECORD"],
        r.orphans.map((o) => [o.host, o.sandboxId, o.kind, o.ref, o.record ?? "(none)"]),
      ),
    );
  }
  if (r.ghosts.length) {
    cx.out.print(
      table(
        ["RECORD", "HOST", "STATE", "WHY"],
        r.ghosts.map((g) => [g.id, g.host, g.state, g.why]),
      ),
    );
  }
}

/** `reap-stale [--apply]`: a dry run unless --apply; then removes orphans and closes ghost records. */
export async function reapStaleCmd(cx: CliContext, argv: string[]): Promise<number> {
  const usage = "sandboxer reap-stale [--apply] [--host NAME] [--json]";
  const { positionals, values } = parse(argv, { apply: { type: "boolean" }, host: { type: "string" } }, usage);
  noExtraPositionals(positionals, 0, usage);
  const broker = cx.broker();
  if (!values.apply) {
    const report = await broker.inspectStale({ host: values.host });
    if (cx.out.json) cx.out.data({ applied: false, ...report });
    else {
      printStale(cx, report);
      if (report.orphans.length || report.ghosts.length) cx.out.print("dry run: nothing removed; run `sandboxer reap-stale --apply` to remove the above");
    }
    return 0;
  }
  const result = await broker.reapStale({ host: values.host });
  if (cx.out.json) cx.out.data({ applied: true, ...result });
  else {
    for (const x of result.removed) cx.out.print(`removed  ${x.sandboxId} on ${x.host} (${x.extension})`);
    for (const x of result.closed) cx.out.print(`closed   ${x.id} -> ${x.state}`);
    for (const e of result.errors) cx.out.note(`error: ${e.ref}: ${e.message}`);
    if (!result.removed.length && !result.closed.length && !result.errors.length) cx.out.print("nothing stale");
  }
  return result.errors.length ? 1 : 0;
}
