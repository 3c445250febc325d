import { parseDuration } from "../../duration.js";
import { SandboxerError } from "../../errors.js";
import { LIVE_STATES } from "../../lifecycle.js";
import { SANDBOX_STATES, type Sandbox, type SandboxState } from "../../types.js";
import { noExtraPositionals, parse, requirePositional, splitDoubleDash } from "../args.js";
import type { CliContext } from "../context.js";
import { fieldRows } from "../fields.js";
import { ago, table, until } from "../output.js";
import { REQUEST_FLAGS, requestFrom, withProgress } from "../long-work.js";

const CREATE_USAGE =
  "sandboxer create [--profile ID] [--input k=v]... [--host NAME] [--ttl 2h] [--route STRATEGY] [--extension ID] [--actor adm|agt|atm] [--project NAME] [--idempotency-key KEY] [--json]";

/** Only a sandbox that is (or is becoming) ready expires; a failed or destroyed record has nothing left to expire. */
export function expiresIn(sb: Sandbox, now: Date = new Date()): string {
  return EXPIRING.includes(sb.state) && !sb.destroyedAt ? until(sb.expiresAt, now) : "-";
}
const EXPIRING: readonly SandboxState[] = ["requested", "provisioning", "ready"];

export function describe(sb: Sandbox): string {
  const lines = [`${sb.id}  ${sb.state}`];
  const row = (k: string, v: string | null | undefined) => {
    if (v !== null && v !== undefined && v !== "") lines.push(`  ${k.padEnd(12)} ${v}`);
  };
  row("profile", `${sb.profile} v${sb.profileVersion}`);
  row("extension", `${sb.extension}${sb.mode ? ` (${sb.mode})` : ""} on ${sb.host}`);
  row("actor", `${sb.actor}${sb.project ? ` / ${sb.project}` : ""}`);
  if (Object.keys(sb.inputs).length)
    row(
      "inputs",
      Object.entries(sb.inputs)
        .map(([k, v]) => `${k}=${v}`)
        .join(" "),
    );
  row("created", sb.createdAt);
  if (sb.readyAt) row("ready", `${sb.readyAt} (${((Date.parse(sb.readyAt) - Date.parse(sb.createdAt)) / 1000).toFixed(2)}s)`);
  row("expires", expiresIn(sb) === "-" ? null : `${sb.expiresAt} (${expiresIn(sb)})`);
  row("destroyed", sb.destroyedAt ? `${sb.destroyedAt} (${sb.reason})` : null);
  // A remote canary's facts are also the record's host facts: shown once, below.
  if (sb.reachability) lines.push(...fieldRows(sb.reachability, 12, { skip: sb.hostFacts ? ["facts"] : [] }));
  if (sb.hostFacts) lines.push(...fieldRows({ "host facts": sb.hostFacts }, 12));
  if (sb.error) row("error", `[${sb.error.code}] ${sb.error.message}`);
  return lines.join("\n");
}

export async function create(cx: CliContext, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...REQUEST_FLAGS, "idempotency-key": { type: "string" } }, CREATE_USAGE);
  noExtraPositionals(positionals, 0, CREATE_USAGE);
  const request = { ...requestFrom(values), idempotencyKey: values["idempotency-key"] };
  const sb = await withProgress(cx, "creating sandbox", (signal) => cx.broker().create(request, { signal }));
  if (cx.out.json) cx.out.data(sb);
  else cx.out.print(describe(sb));
  return 0;
}

export async function get(cx: CliContext, argv: string[]): Promise<number> {
  const usage = "sandboxer get ID [--json]";
  const { positionals } = parse(argv, {}, usage);
  noExtraPositionals(positionals, 1, usage);
  const sb = await cx.reader().get(requirePositional(positionals, 0, "ID", usage));
  if (cx.out.json) cx.out.data(sb);
  else cx.out.print(describe(sb));
  return 0;
}

export async function list(cx: CliContext, argv: string[]): Promise<number> {
  const usage = "sandboxer list [--state S[,S]] [--profile P] [--project P] [--extension E] [--host H] [--all] [--json]";
  const { values, positionals } = parse(
    argv,
    {
      state: { type: "string" },
      profile: { type: "string" },
      project: { type: "string" },
      extension: { type: "string" },
      host: { type: "string" },
      all: { type: "boolean" },
    },
    usage,
  );
  noExtraPositionals(positionals, 0, usage);
  let states: SandboxState[] | undefined;
  if (values.state) {
    states = values.state.split(",").map((s) => s.trim()) as SandboxState[];
    const bad = states.find((s) => !(SANDBOX_STATES as readonly string[]).includes(s));
    if (bad) throw new SandboxerError("SBX_USAGE", `--state '${bad}' is not one of ${SANDBOX_STATES.join(", ")}`, { details: { field: "state" } });
  } else if (!values.all) {
    // Like `docker ps`: destroyed records are history; --all shows them.
    states = [...LIVE_STATES, "failed"];
  }
  const rows = await cx.reader().list({ states, profile: values.profile, project: values.project, extension: values.extension, host: values.host });
  if (cx.out.json) {
    cx.out.data(rows);
    return 0;
  }
  if (!rows.length) {
    cx.out.note(values.all || values.state ? "no sandboxes" : "no sandboxes (destroyed ones are hidden: --all)");
    return 0;
  }
  const now = new Date();
  cx.out.print(
    table(
      ["ID", "STATE", "PROFILE", "EXTENSION", "HOST", "PROJECT", "CREATED", "EXPIRES"],
      rows.map((r) => [r.id, r.state, r.profile, r.extension, r.host, r.project ?? "-", ago(r.createdAt, now), expiresIn(r, now)]),
    ),
  );
  return 0;
}

export async function destroy(cx: CliContext, argv: string[]): Promise<number> {
  const usage = "sandboxer destroy ID [--json]";
  const { positionals } = parse(argv, {}, usage);
  noExtraPositionals(positionals, 1, usage);
  const sb = await cx.broker().destroy(requirePositional(positionals, 0, "ID", usage));
  if (cx.out.json) cx.out.data(sb);
  else cx.out.print(`${sb.id}  ${sb.state}${sb.reason ? ` (${sb.reason})` : ""}`);
  return 0;
}

export async function recreate(cx: CliContext, argv: string[]): Promise<number> {
  const usage = "sandboxer recreate ID [--json]";
  const { positionals } = parse(argv, {}, usage);
  noExtraPositionals(positionals, 1, usage);
  const id = requirePositional(positionals, 0, "ID", usage);
  const sb = await withProgress(cx, "recreating sandbox", (signal) => cx.broker().recreate(id, { signal }));
  if (cx.out.json) cx.out.data(sb);
  else cx.out.print(describe(sb));
  return 0;
}

export async function exec(cx: CliContext, argv: string[]): Promise<number> {
  const usage = "sandboxer exec ID [--service NAME] [--timeout D] [--detach] [-i] [-t] [--json] -- CMD...";
  const [ours, command] = splitDoubleDash(argv);
  const { values, positionals } = parse(
    ours,
    {
      service: { type: "string" },
      timeout: { type: "string" },
      detach: { type: "boolean", short: "d" },
      interactive: { type: "boolean", short: "i" },
      tty: { type: "boolean", short: "t" },
      cwd: { type: "string" },
    },
    usage,
  );
  const opts = values.service === undefined ? {} : { service: values.service as string };
  const id = requirePositional(positionals, 0, "ID", usage);
  const cmd = command ?? positionals.slice(1);
  if (!command) noExtraPositionals(positionals, 1, usage);
  if (!cmd.length) throw new SandboxerError("SBX_USAGE", `missing command after --\nusage: ${usage}`);
  if (values.detach) {
    if (values.tty || values.timeout) throw new SandboxerError("SBX_USAGE", "--detach runs without a terminal or a timeout (stop it with `sandboxer kill`)");
    const p = await cx.broker().startProcess(id, cmd, { ...opts, ...(values.cwd === undefined ? {} : { cwd: values.cwd }) });
    if (cx.out.json) cx.out.data(p);
    else cx.out.print(p.pid);
    return 0;
  }
  if (values.cwd !== undefined) throw new SandboxerError("SBX_USAGE", "--cwd applies to --detach (run `sh -c 'cd DIR && ...'` otherwise)");
  const timeoutMs = values.timeout === undefined ? undefined : parseDuration(values.timeout, "timeout") * 1000;
  const run = { ...opts, ...(timeoutMs === undefined ? {} : { timeoutMs }) };
  if (values.tty) {
    if (cx.out.json) throw new SandboxerError("SBX_USAGE", "-t (a terminal) and --json do not mix");
    return (await cx.broker().exec(id, cmd, { stdin: "inherit", stdout: "inherit", stderr: "inherit" }, { ...run, tty: true })).exitCode;
  }
  if (cx.out.json) {
    const r = await cx.broker().exec(id, cmd, { stdin: "ignore", stdout: "pipe", stderr: "pipe" }, run);
    cx.out.data({
      id,
      command: cmd,
      exitCode: r.exitCode,
      stdout: r.stdout ?? "",
      stderr: r.stderr ?? "",
      truncated: r.truncated ?? false,
      ...(timeoutMs === undefined ? {} : { timedOut: r.timedOut ?? false }),
    });
    return r.exitCode;
  }
  const r = await cx.broker().exec(id, cmd, { stdin: "inherit", stdout: "inherit", stderr: "inherit" }, run);
  if (r.timedOut) cx.out.note(`sandboxer: timed out after ${values.timeout}; the command's process group was killed`);
  return r.exitCode;
}

/** `sandboxer shell ID [--service S]`: an interactive shell, as `exec -it ID -- sh`. */
export async function shell(cx: CliContext, argv: string[]): Promise<number> {
  const usage = "sandboxer shell ID [--service NAME] [-- SHELL...]";
  const [ours, command] = splitDoubleDash(argv);
  const { values, positionals } = parse(ours, { service: { type: "string" } }, usage);
  noExtraPositionals(positionals, 1, usage);
  const id = requirePositional(positionals, 0, "ID", usage);
  const opts = values.service === undefined ? {} : { service: values.service as string };
  const cmd = command?.length ? command : ["sh"];
  return (await cx.broker().exec(id, cmd, { stdin: "inherit", stdout: "inherit", stderr: "inherit" }, { ...opts, tty: true })).exitCode;
}
