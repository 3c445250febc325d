/**
 * `sandboxer COMMAND --help`: the command's usage and EVERY flag it accepts,
 * taken from the very option table its parser uses (args.ts HelpRequest), so
 * help cannot drift from the code. Descriptions live here, by flag name, with
 * per-command wording where a flag means something else there.
 * `create --profile P --help` adds that profile's inputs.
 */
import type { InputSpec, Profile } from "../catalog/schema.js";
import type { HelpRequest } from "./args.js";

interface FlagDoc {
  /** Placeholder for the value (string flags). */
  arg?: string;
  text: string;
}

/** By flag name; `command.flag` for a command's own meaning. */
export const FLAG_DOCS: Record<string, FlagDoc> = {
  json: { text: "one JSON document on stdout (errors as JSON on stderr)" },
  help: { text: "this help" },
  profile: { arg: "ID", text: "the profile (default: profile.sandbox-canary, or defaults.profile in the config); with --help: its inputs" },
  input: { arg: "NAME=VALUE", text: "an input of the profile; repeat for more (see --profile P --help)" },
  host: { arg: "NAME", text: "an inventory host; overrides the profile's placement unless it is locked (also SANDBOXER_HOST)" },
  ttl: { arg: "DURATION", text: "lifetime like 90s, 30m, 2h, 1d (up to the profile's ttl.max and the extension's limits.maxTtl)" },
  route: { arg: "STRATEGY", text: "routing strategy: prefer-self-hosted, lowest-cost, lowest-latency or explicit" },
  extension: { arg: "ID", text: "pin one of the profile's extensions (ext.*)" },
  actor: { arg: "adm|agt|atm", text: "who the sandbox is for: operator, agent or automation" },
  project: { arg: "NAME", text: "the project the sandbox belongs to (credits, tenancy)" },
  "idempotency-key": { arg: "KEY", text: "a retried create with the same key returns the same sandbox" },
  state: { arg: "S[,S]", text: "only these states (requested, provisioning, ready, failed, destroying, destroy_failed, destroyed)" },
  all: { text: "include destroyed sandboxes" },
  service: { arg: "NAME", text: "the compose service whose container runs the command (default: the first running)" },
  follow: { text: "keep printing new events as they are written (Ctrl-C stops)" },
  "since-seq": { arg: "N", text: "only events after sequence number N" },
  limit: { arg: "N", text: "at most N entries" },
  budget: { arg: "SECONDS", text: "give delivery at most this long (default 30)" },
  apply: { text: "do it (without: a dry run that only reports)" },
  name: { arg: "LABEL", text: "a label for the record" },
  sandbox: { arg: "ID", text: "only snapshots of this sandbox" },
  duration: { arg: "DURATION", text: "how much longer, like 30m or 2h" },
  port: { arg: "N", text: "TCP port to listen on" },
  interval: { arg: "DURATION", text: "time between passes" },
  once: { text: "one pass, then exit" },
  note: { arg: "TEXT", text: "a note kept with the ledger entry" },
  since: { arg: "DATE", text: "entries from this date (YYYY-MM-DD or ISO time)" },
  output: { arg: "FILE", text: "write to FILE instead of stdout" },
  "body-limit": { arg: "BYTES", text: "largest request body accepted" },
  "rate-limit": { arg: "N", text: "requests per second per token" },
  "reaper-interval": { arg: "DURATION", text: "how often the built-in reaper runs" },
  "no-reaper": { text: "do not run the TTL reaper inside the server" },
  timeout: { arg: "DURATION", text: "kill the command's whole process group after this long (exit 124)" },
  detach: { text: "start the command in the background and print its process id (see ps, logs, kill)" },
  interactive: { text: "keep stdin open to the command (with -t: an interactive terminal)" },
  tty: { text: "give the command a terminal (window size passed on, your terminal restored on exit)" },
  cwd: { arg: "DIR", text: "working directory inside the sandbox (with --detach)" },
  "follow-link": { text: "copy the file a link names, not the link" },
  offset: { arg: "N", text: "start at this byte of the process's output" },
  signal: { arg: "SIGNAL", text: "the signal to send (TERM, KILL, INT, HUP, ...; default TERM)" },
  "logs.follow": { text: "keep printing the process's output as it comes (Ctrl-C stops)" },
  "cp.service": { arg: "NAME", text: "the compose service whose container holds the files (default: the first running)" },
  "shell.service": { arg: "NAME", text: "the compose service whose container the shell runs in (default: the first running)" },
  size: { arg: "N", text: "how many ready members the pool keeps (0 drains it)" },
  "max-idle": { arg: "DURATION", text: "replace a member idle longer than this" },
  "pools.input": { arg: "NAME=VALUE", text: "an input every member is made with; repeat for more" },
  "credits.pool": { text: "the operator's pool account (what idle warm members draw on), not a project's" },
  "credits.all": { text: "every account" },
  "db.to": { arg: "URL", text: "the PostgreSQL store to copy into (postgres://...; default SANDBOXER_DATABASE_URL)" },
  "db.replace": { text: "empty a target that already holds data before copying (else SBX_STORE_NOT_EMPTY)" },
  "serve.host": { arg: "ADDRESS", text: "address to listen on (default 127.0.0.1)" },
  "inspect.host": { arg: "NAME", text: "only this inventory host" },
  "reap-stale.host": { arg: "NAME", text: "only this inventory host" },
  "list.host": { arg: "NAME", text: "only sandboxes on this host" },
  "list.profile": { arg: "ID", text: "only sandboxes of this profile" },
  "list.project": { arg: "NAME", text: "only sandboxes of this project" },
  "list.extension": { arg: "ID", text: "only sandboxes of this extension" },
  "snapshots.profile": { arg: "ID", text: "only snapshots of this profile" },
  "snapshots.project": { arg: "NAME", text: "only snapshots of this project" },
  "credits.project": { arg: "NAME", text: "the project's account (default: the default account)" },
  "tokens.actor": { arg: "adm|agt|atm", text: "the token's actor" },
  "tokens.project": { arg: "NAME", text: "the project a tenant token is bound to" },
  "tokens.name": { arg: "LABEL", text: "a label for the token" },
  "restore.profile": { arg: "ID", text: "restore into another profile (its own inputs apply)" },
};

type Option = { type: "string" | "boolean"; short?: string; multiple?: boolean };

export function flagDoc(command: string, flag: string): FlagDoc | undefined {
  return FLAG_DOCS[`${command}.${flag}`] ?? FLAG_DOCS[flag];
}

/** Every flag of a HelpRequest as `--name ARG` with its description. */
export function flagLines(command: string, req: HelpRequest): { flag: string; text: string | undefined }[] {
  return Object.entries(req.options as Record<string, Option>)
    .sort(([a], [b]) => (a === "help" ? 1 : b === "help" ? -1 : a === "json" ? 1 : b === "json" ? -1 : 0))
    .map(([name, o]) => {
      const doc = flagDoc(command, name);
      const arg = o.type === "string" ? ` ${doc?.arg ?? "VALUE"}` : "";
      const short = o.short ? `-${o.short}, ` : "";
      return { flag: `${short}--${name}${arg}${o.multiple ? " (repeatable)" : ""}`, text: doc?.text };
    });
}

export function commandHelp(command: string, summary: string, req: HelpRequest): string {
  const lines = flagLines(command, req);
  const width = Math.max(...lines.map((l) => l.flag.length));
  return [
    `sandboxer ${command}: ${summary}`,
    "",
    `usage: ${req.usage}`,
    "",
    "flags:",
    ...lines.map((l) => `  ${l.flag.padEnd(width)}  ${l.text ?? ""}`.trimEnd()),
  ].join("\n");
}

function typeOf(spec: InputSpec): string {
  if (spec.type === "enum") return `enum(${(spec.values ?? []).join("|")})`;
  if (spec.type === "int" && (spec.min !== undefined || spec.max !== undefined)) return `int ${spec.min ?? ""}..${spec.max ?? ""}`;
  return spec.type;
}

/** A profile's inputs: name (and aliases), type, required/default, description. */
export function profileInputsHelp(p: Profile): string {
  const rows = Object.entries(p.inputs).map(([name, spec]) => {
    const label = spec.prefix ? `${name}<NAME>` : name;
    const aliases = spec.aliases?.length ? ` (alias ${spec.aliases.join(", ")})` : "";
    const need = spec.required ? "required" : spec.default !== undefined ? `default ${String(spec.default)}` : spec.prefix ? "any number" : "optional";
    return { left: `${label}${aliases}`, type: typeOf(spec), need, text: spec.description ?? "" };
  });
  const head = `inputs of ${p.id} v${p.version} (--input NAME=VALUE)${p.description ? `: ${p.description}` : ""}`;
  if (!rows.length) return `${head}\n  (none)`;
  const w1 = Math.max(...rows.map((r) => r.left.length));
  const w2 = Math.max(...rows.map((r) => r.type.length));
  const w3 = Math.max(...rows.map((r) => r.need.length));
  return [head, ...rows.map((r) => `  ${r.left.padEnd(w1)}  ${r.type.padEnd(w2)}  ${r.need.padEnd(w3)}  ${r.text}`.trimEnd())].join("\n");
}
