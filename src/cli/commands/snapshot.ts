import { SandboxerError } from "../../errors.js";
import type { Snapshot } from "../../snapshots/types.js";
import { noExtraPositionals, parse, parseInputs, requirePositional } from "../args.js";
import type { CliContext } from "../context.js";
import { ago, table } from "../output.js";
import { withProgress } from "../long-work.js";
import { startSpinner } from "../progress.js";
import { describe as describeSandbox } from "./sandbox.js";

const SNAPSHOT_USAGE = "sandboxer snapshot ID [--name LABEL] [--json] | snapshot delete SNAPSHOT_ID [--json]";
const SNAPSHOTS_USAGE =
  "sandboxer snapshots list [--sandbox ID] [--profile P] [--project P] | snapshots get SNAPSHOT_ID | snapshots delete SNAPSHOT_ID [--json]";
const RESTORE_USAGE = "sandboxer restore SNAPSHOT_ID [--host H] [--ttl 2h] [--profile P --input k=v...] [--extension E] [--actor A] [--project P] [--json]";

export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i ? v.toFixed(1) : v} ${units[i]}`;
}

function describe(s: Snapshot): string {
  const rows: [string, string][] = [
    ["name", s.name ?? "-"],
    ["sandbox", s.sandboxId],
    ["profile", `${s.profile} v${s.profileVersion}`],
    ["extension", `${s.extension} on ${s.host}`],
    ["actor", `${s.actor}${s.project ? ` / ${s.project}` : ""}`],
    ["archive", `${s.path} (${s.format}, ${bytes(s.sizeBytes)})`],
    ["digest", s.digest],
    ["created", s.createdAt],
  ];
  return [s.id, ...rows.map(([k, v]) => `  ${k.padEnd(10)} ${v}`)].join("\n");
}

function show(cx: CliContext, s: Snapshot): void {
  if (cx.out.json) cx.out.data(s);
  else cx.out.print(describe(s));
}

async function remove(cx: CliContext, positionals: string[], usage: string): Promise<number> {
  noExtraPositionals(positionals, 2, usage);
  const s = await cx.broker().deleteSnapshot(requirePositional(positionals, 1, "SNAPSHOT_ID", usage));
  if (cx.out.json) cx.out.data(s);
  else cx.out.print(`${s.id}  deleted`);
  return 0;
}

/** `snapshot ID [--name]` and `snapshot delete SNAPSHOT_ID`. */
export async function snapshot(cx: CliContext, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { name: { type: "string" } }, SNAPSHOT_USAGE);
  if (positionals[0] === "delete") return remove(cx, positionals, SNAPSHOT_USAGE);
  noExtraPositionals(positionals, 1, SNAPSHOT_USAGE);
  const id = requirePositional(positionals, 0, "ID", SNAPSHOT_USAGE);
  const spinner = startSpinner(!cx.out.json && cx.out.stderrIsTty, `snapshotting ${id}`);
  try {
    const s = await cx.broker().snapshot(id, { name: values.name });
    spinner.stop();
    show(cx, s);
    return 0;
  } finally {
    spinner.stop();
  }
}

export async function snapshots(cx: CliContext, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { sandbox: { type: "string" }, profile: { type: "string" }, project: { type: "string" } }, SNAPSHOTS_USAGE);
  const sub = positionals[0] ?? "list";
  if (sub === "get") {
    noExtraPositionals(positionals, 2, SNAPSHOTS_USAGE);
    show(cx, await cx.broker().getSnapshot(requirePositional(positionals, 1, "SNAPSHOT_ID", SNAPSHOTS_USAGE)));
    return 0;
  }
  if (sub === "delete") return remove(cx, positionals, SNAPSHOTS_USAGE);
  if (sub !== "list") throw new SandboxerError("SBX_USAGE", `unknown subcommand '${sub.slice(0, 40)}'\nusage: ${SNAPSHOTS_USAGE}`);
  noExtraPositionals(positionals, 1, SNAPSHOTS_USAGE);
  const all = await cx.broker().snapshots({ sandboxId: values.sandbox, profile: values.profile, project: values.project });
  if (cx.out.json) {
    cx.out.data(all);
    return 0;
  }
  if (!all.length) {
    cx.out.note("no snapshots");
    return 0;
  }
  const now = new Date();
  cx.out.print(
    table(
      ["ID", "NAME", "SANDBOX", "PROFILE", "EXTENSION", "SIZE", "CREATED"],
      all.map((s) => [s.id, s.name ?? "-", s.sandboxId, s.profile, s.extension, bytes(s.sizeBytes), ago(s.createdAt, now)]),
    ),
  );
  return 0;
}

export async function restore(cx: CliContext, argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      host: { type: "string" },
      ttl: { type: "string" },
      profile: { type: "string" },
      input: { type: "string", multiple: true, short: "i" },
      extension: { type: "string" },
      actor: { type: "string" },
      project: { type: "string" },
    },
    RESTORE_USAGE,
  );
  noExtraPositionals(positionals, 1, RESTORE_USAGE);
  const id = requirePositional(positionals, 0, "SNAPSHOT_ID", RESTORE_USAGE);
  const sb = await withProgress(cx, `restoring ${id}`, (signal) =>
    cx.broker().restore(id, {
      host: values.host,
      ttl: values.ttl,
      profile: values.profile,
      inputs: values.input ? parseInputs(values.input) : undefined,
      extension: values.extension,
      actor: values.actor,
      project: values.project,
      signal,
    }),
  );
  if (cx.out.json) cx.out.data(sb);
  else cx.out.print(`${describeSandbox(sb)}\n  ${"restored".padEnd(12)} from ${id}`);
  return 0;
}
