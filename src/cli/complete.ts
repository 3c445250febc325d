/**
 * Shell completion: `sandboxer completion bash|zsh|fish` prints a script
 * whose function calls back `sandboxer __complete CWORD WORDS...`; this file
 * answers with candidates, one per line. Commands come from the command
 * table, flags from each command's own parser (its HelpRequest), values from
 * fast local reads: profile and extension ids from file names, inventory
 * hosts from the config, sandbox ids from the store (when it exists), snapshot
 * ids from the archive names. Never throws: a completion that fails is empty.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { ROUTE_STRATEGIES } from "../catalog/schema.js";
import { type Env, resolvePaths } from "../paths.js";
import { ACTOR_TYPES, SANDBOX_STATES } from "../types.js";
import { HelpRequest } from "./args.js";
import type { CliContext } from "./context.js";

type Kind = "sandbox" | "profile" | "extension" | "host" | "snapshot" | "actor" | "route" | "state" | "shell";

/** Subcommands, and what each positional after them names. */
const SUBCOMMANDS: Record<string, string[]> = {
  events: ["flush"],
  profiles: ["list", "show"],
  extensions: ["list"],
  hosts: ["list"],
  inspect: ["host", "stale"],
  reachability: ["show"],
  route: ["explain"],
  credits: ["show", "add", "history", "export"],
  snapshot: ["delete"],
  snapshots: ["list", "get", "delete"],
  tokens: ["create", "list", "revoke"],
  completion: ["bash", "zsh", "fish"],
  pools: ["set", "list", "drain"],
};
const POSITIONAL: Record<string, Kind> = {
  get: "sandbox",
  destroy: "sandbox",
  recreate: "sandbox",
  exec: "sandbox",
  events: "sandbox",
  snapshot: "sandbox",
  "extend-ttl": "sandbox",
  ps: "sandbox",
  logs: "sandbox",
  kill: "sandbox",
  shell: "sandbox",
  "pools set": "profile",
  "pools drain": "profile",
  "reachability show": "sandbox",
  "profiles show": "profile",
  "inspect host": "host",
  restore: "snapshot",
  "snapshot delete": "snapshot",
  "snapshots get": "snapshot",
  "snapshots delete": "snapshot",
};
const FLAG_VALUES: Record<string, Kind> = {
  profile: "profile",
  extension: "extension",
  host: "host",
  actor: "actor",
  route: "route",
  state: "state",
  sandbox: "sandbox",
};

type CommandTable = Record<string, { run: () => Promise<(cx: CliContext, argv: string[]) => Promise<number>>; summary: string }>;

const yamlIds = (dir: string | undefined, prefix = "") =>
  dir && existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => /\.ya?ml$/.test(f))
        .map((f) => `${prefix}${f.replace(/\.ya?ml$/, "")}`)
    : [];

async function values(kind: Kind, env: Env): Promise<string[]> {
  const paths = resolvePaths(env);
  switch (kind) {
    case "profile":
      return [...new Set([...yamlIds(paths.builtinProfiles), ...yamlIds(paths.extraProfiles)])].filter((id) => id.startsWith("profile."));
    case "extension":
      return yamlIds(paths.builtinExtensions, "ext.");
    case "actor":
      return [...ACTOR_TYPES];
    case "route":
      return [...ROUTE_STRATEGIES];
    case "state":
      return [...SANDBOX_STATES];
    case "shell":
      return ["bash", "zsh", "fish"];
    case "snapshot":
      return existsSync(paths.snapshots) ? readdirSync(paths.snapshots).flatMap((f) => /^(snap-[a-z2-7]{12})\.tar\.(zst|gz)$/.exec(f)?.[1] ?? []) : [];
    case "host": {
      if (!existsSync(paths.configFile)) return ["localhost"];
      const cfg = parseYaml(readFileSync(paths.configFile, "utf8")) as { hosts?: Record<string, unknown> } | null;
      return ["localhost", ...Object.keys(cfg?.hosts ?? {}).filter((h) => h !== "localhost")];
    }
    case "sandbox": {
      // Only a store that exists: completing must never create one.
      if (env.SANDBOXER_URL || env.SANDBOXER_DATABASE_URL || !existsSync(paths.db)) return [];
      const { openReader } = await import("../broker/read.js");
      const reader = openReader(env);
      try {
        return (await reader.list({ states: ["requested", "provisioning", "ready", "failed", "destroying", "destroy_failed"] })).map((s) => s.id);
      } finally {
        await reader.close();
      }
    }
  }
}

/** The flags a command takes after these words, asked of its own parser. */
async function flagsOf(commands: CommandTable, command: string, words: string[]): Promise<{ names: string[]; types: Record<string, string> }> {
  const entry = commands[command];
  if (!entry) return { names: [], types: {} };
  const refuse = () => {
    throw new Error("completion never opens the store");
  };
  const cx = {
    out: { json: false, print() {}, note() {}, data() {}, stdoutIsTty: false, stderrIsTty: false },
    env: {},
    onProgress: undefined,
    broker: refuse,
    reader: refuse,
    opened: () => undefined,
    close: async () => {},
  } as unknown as CliContext;
  try {
    await (await entry.run())(cx, [...words.filter((w) => !w.startsWith("-")), "--help"]);
  } catch (err) {
    if (err instanceof HelpRequest) {
      const opts = err.options as Record<string, { type: string }>;
      return { names: Object.keys(opts).map((k) => `--${k}`), types: Object.fromEntries(Object.entries(opts).map(([k, o]) => [k, o.type])) };
    }
  }
  return { names: [], types: {} };
}

/** Candidates for `words[cword]` (words[0] is the program), filtered by what is typed so far. */
export async function complete(commands: CommandTable, cword: number, words: string[], env: Env): Promise<string[]> {
  const cur = words[cword] ?? "";
  const done = words.slice(1, cword);
  const keep = (xs: string[]) => [...new Set(xs)].filter((x) => x.startsWith(cur)).sort();
  try {
    if (done.length === 0) return keep([...Object.keys(commands), "help"]);
    const [command, ...rest] = done as [string, ...string[]];
    if (rest.includes("--")) return []; // exec ... -- CMD: the shell's own completion
    const { names, types } = await flagsOf(commands, command, rest);
    const prev = done.at(-1) ?? "";
    if (prev.startsWith("--") && types[prev.slice(2)] === "string") {
      const flag = prev.slice(2);
      const kind = FLAG_VALUES[flag];
      if (flag === "input") return keep(await inputNames(rest, env));
      return kind ? keep(await values(kind, env)) : [];
    }
    if (cur.startsWith("-")) return keep(names);
    // Positionals typed so far (skipping flags and their values).
    const positionals: string[] = [];
    for (let i = 0; i < rest.length; i++) {
      const w = rest[i] as string;
      if (w.startsWith("--")) {
        if (types[w.slice(2)] === "string") i++;
      } else if (!w.startsWith("-")) positionals.push(w);
    }
    const subs = SUBCOMMANDS[command];
    if (positionals.length === 0) {
      const kind = POSITIONAL[command];
      return keep([...(subs ?? []), ...(kind ? await values(kind, env) : [])]);
    }
    const key = subs?.includes(positionals[0] as string) ? `${command} ${positionals[0]}` : null;
    if (key && positionals.length === 1 && POSITIONAL[key]) return keep(await values(POSITIONAL[key] as Kind, env));
    return [];
  } catch (err) {
    if (env.SANDBOXER_DEBUG) process.stderr.write(`completion: ${(err as Error).stack}\n`);
    return [];
  }
}

/** `--input` names of the profile given with --profile (NAME=), from its YAML. */
async function inputNames(words: string[], env: Env): Promise<string[]> {
  const i = words.indexOf("--profile");
  const id = i >= 0 ? words[i + 1] : "profile.sandbox-canary";
  if (!id || !/^profile\.[a-z0-9-]+$/.test(id)) return [];
  const paths = resolvePaths(env);
  for (const dir of [paths.extraProfiles, paths.builtinProfiles]) {
    const file = dir ? [`${dir}/${id}.yaml`, `${dir}/${id}.yml`].find((f) => existsSync(f)) : undefined;
    if (!file) continue;
    const p = parseYaml(readFileSync(file, "utf8")) as { inputs?: Record<string, unknown> } | null;
    return Object.keys(p?.inputs ?? {}).map((n) => `${n}=`);
  }
  return [];
}

/** The scripts: each calls back `PROGRAM __complete CWORD WORDS...` with the words the shell has. */
export function completionScript(shell: string): string | null {
  switch (shell) {
    case "bash":
      return [
        '# sandboxer bash completion: eval "$(sandboxer completion bash)" (e.g. in ~/.bashrc)',
        "_sandboxer() {",
        "  local IFS=$'\\n'",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a JS template
        '  COMPREPLY=($("${COMP_WORDS[0]}" __complete "$COMP_CWORD" "${COMP_WORDS[@]}" 2>/dev/null))',
        "  # A value ending in '=' (--input NAME=) is not finished: no space after it.",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a JS template
        '  if [ "${#COMPREPLY[@]}" -eq 1 ] && [ "${COMPREPLY[0]%=}" != "${COMPREPLY[0]}" ]; then compopt -o nospace 2>/dev/null; fi',
        "}",
        "complete -o default -F _sandboxer sandboxer",
        "",
      ].join("\n");
    case "zsh":
      return [
        "#compdef sandboxer",
        "# sandboxer zsh completion: source <(sandboxer completion zsh) after compinit (e.g. in ~/.zshrc)",
        "_sandboxer() {",
        "  local -a cands",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a JS template
        '  cands=("${(@f)$("${words[1]}" __complete $((CURRENT - 1)) "${words[@]}" 2>/dev/null)}")',
        "  compadd -a cands",
        "}",
        "if (( $+functions[compdef] )); then compdef _sandboxer sandboxer; fi",
        "",
      ].join("\n");
    case "fish":
      return [
        "# sandboxer fish completion: sandboxer completion fish | source (e.g. in ~/.config/fish/config.fish)",
        "function __sandboxer_complete",
        "    set -l words (commandline -opc) (commandline -ct)",
        "    $words[1] __complete (math (count $words) - 1) $words 2>/dev/null",
        "end",
        "complete -c sandboxer -f -a '(__sandboxer_complete)'",
        "",
      ].join("\n");
    default:
      return null;
  }
}
