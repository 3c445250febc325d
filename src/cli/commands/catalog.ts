import { resolvePaths } from "../../config.js";
import { SandboxerError } from "../../errors.js";
import { noExtraPositionals, parse, requirePositional } from "../args.js";
import type { CliContext } from "../context.js";
import { HOST_HEADERS, hostRows } from "../hosts-table.js";
import { table } from "../output.js";

function printDiagnostics(cx: CliContext, diags: { file: string; field: string; message: string }[], level: string): void {
  for (const d of diags) cx.out.note(`${level}: ${d.file}: ${d.field}: ${d.message}`);
}

export async function profiles(cx: CliContext, argv: string[]): Promise<number> {
  const usage = "sandboxer profiles list | profiles show ID [--json]";
  const { positionals } = parse(argv, {}, usage);
  const sub = positionals[0] ?? "list";
  const catalog = await cx.broker().catalog();
  if (!cx.out.json) {
    printDiagnostics(cx, catalog.errors, "error");
    printDiagnostics(cx, catalog.warnings, "warning");
  }
  if (sub === "list") {
    noExtraPositionals(positionals, 1, usage);
    const all = [...catalog.profiles.values()].sort((a, b) => a.id.localeCompare(b.id));
    if (cx.out.json) cx.out.data({ profiles: all, errors: catalog.errors, warnings: catalog.warnings });
    else
      cx.out.print(
        table(
          ["ID", "VERSION", "EXTENSION", "TTL", "DESCRIPTION"],
          all.map((p) => [p.id, String(p.version), p.extension ?? `route:${p.route?.strategy}`, `${p.ttl.default}/${p.ttl.max}`, p.description]),
        ),
      );
    return catalog.errors.length ? 1 : 0;
  }
  if (sub === "show") {
    noExtraPositionals(positionals, 2, usage);
    const id = requirePositional(positionals, 1, "ID", usage);
    const p = catalog.profiles.get(id);
    if (!p) throw new SandboxerError("SBX_PROFILE_NOT_FOUND", `profile '${id}' does not exist`, { details: { field: "profile" } });
    if (cx.out.json) cx.out.data(p);
    else {
      cx.out.print(
        `${p.id} v${p.version}: ${p.description}\n  file       ${p.file}\n  extension  ${p.extension ?? `${p.route?.strategy}: ${p.route?.candidates.join(", ")}`}\n  placement  ${p.placement.hosts.join(", ")}${p.placement.labels.length ? ` labels=${p.placement.labels.join(",")}` : ""}\n  ttl        default ${p.ttl.default}, max ${p.ttl.max}; timeout ${p.timeout}; network ${p.network}`,
      );
      for (const [name, spec] of Object.entries(p.inputs)) {
        cx.out.print(
          `  input ${name}: ${spec.type}${spec.required ? " (required)" : ""}${spec.default !== undefined ? ` = ${spec.default}` : ""}${spec.description ? ` - ${spec.description}` : ""}`,
        );
      }
    }
    return 0;
  }
  throw new SandboxerError("SBX_USAGE", `unknown subcommand '${sub}'\nusage: ${usage}`);
}

export async function extensions(cx: CliContext, argv: string[]): Promise<number> {
  const usage = "sandboxer extensions list [--json]";
  const { positionals } = parse(argv, {}, usage);
  if ((positionals[0] ?? "list") !== "list") throw new SandboxerError("SBX_USAGE", `usage: ${usage}`);
  const rows = await cx.broker().extensions();
  if (cx.out.json) cx.out.data(rows);
  else
    cx.out.print(
      table(
        ["ID", "KIND", "ENABLED", "PRICE/H", "READY~", "CAPABILITIES"],
        rows.map((r) => [
          r.id,
          r.kind,
          String(r.enabled),
          String(r.pricePerHour),
          `${r.expectedReadySeconds}s`,
          Object.entries(r.capabilities)
            .filter(([, v]) => v)
            .map(([k]) => k)
            .join(",") || "-",
        ]),
      ),
    );
  return 0;
}

export async function hosts(cx: CliContext, argv: string[]): Promise<number> {
  const usage = "sandboxer hosts list [--json]";
  const { positionals } = parse(argv, {}, usage);
  if ((positionals[0] ?? "list") !== "list") throw new SandboxerError("SBX_USAGE", `usage: ${usage}`);
  const config = await cx.broker().config();
  const all = [...config.hosts.values()];
  if (cx.out.json) cx.out.data(all);
  else {
    // Remote (SANDBOXER_URL): this machine's paths are not the server's.
    const local = cx.env.SANDBOXER_URL ? "$SANDBOXER_HOME/workspaces on the server" : resolvePaths(cx.env).workspaces;
    cx.out.print(table(HOST_HEADERS, hostRows(all, local)));
  }
  return 0;
}

export async function reconcileCmd(cx: CliContext, argv: string[]): Promise<number> {
  const usage = "sandboxer reconcile [--json]";
  const { positionals } = parse(argv, {}, usage);
  noExtraPositionals(positionals, 0, usage);
  const report = await cx.broker().reconcile({ deep: true });
  if (cx.out.json) cx.out.data(report);
  else {
    for (const a of report.actions) cx.out.print(`${a.id}  ${a.from} -> ${a.to}  (${a.why})`);
    for (const o of report.orphans)
      cx.out.print(`orphan  ${o.sandboxId}  ${o.kind} ${o.ref} on ${o.host} has no live record (sandboxer reap-stale removes it)`);
    for (const e of report.errors) cx.out.note(`error: ${e.id}: ${e.message}`);
    if (!report.actions.length && !report.orphans.length && !report.errors.length) cx.out.print("nothing to reconcile");
  }
  return report.errors.length ? 1 : 0;
}
