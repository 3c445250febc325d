import { SandboxerError, toSandboxerError } from "../errors.js";
import { HelpRequest } from "./args.js";
import { type CliContext, makeContext } from "./context.js";
import { formatError, makeOut } from "./output.js";

type Command = (cx: CliContext, argv: string[]) => Promise<number>;

/** Commands load their module on demand: a cold `list` must not pay for the catalog or vendors. */
const COMMANDS: Record<string, { run: () => Promise<Command>; writes: boolean; summary: string; light?: boolean }> = {
  create: { run: async () => (await import("./commands/sandbox.js")).create, writes: true, summary: "create a sandbox from a profile" },
  get: { run: async () => (await import("./commands/sandbox.js")).get, writes: false, summary: "show one sandbox record", light: true },
  list: { run: async () => (await import("./commands/sandbox.js")).list, writes: false, summary: "list sandboxes (--all for destroyed)", light: true },
  destroy: { run: async () => (await import("./commands/sandbox.js")).destroy, writes: true, summary: "tear a sandbox down" },
  recreate: { run: async () => (await import("./commands/sandbox.js")).recreate, writes: true, summary: "destroy and create again with the same request" },
  exec: {
    run: async () => (await import("./commands/sandbox.js")).exec,
    writes: false,
    summary: "run a command inside a sandbox: exec ID [--service NAME] [--timeout D] [--detach] [-it] -- CMD...",
  },
  shell: {
    run: async () => (await import("./commands/sandbox.js")).shell,
    writes: false,
    summary: "an interactive shell in a sandbox (a terminal, like exec -it ID -- sh)",
  },
  cp: {
    run: async () => (await import("./commands/cp.js")).cp,
    writes: false,
    summary: "copy files and directories: cp SRC ID:DST | cp ID:SRC DST (- = tar on stdin/stdout)",
  },
  ps: { run: async () => (await import("./commands/processes.js")).ps, writes: false, summary: "detached processes of a sandbox (started by exec --detach)" },
  logs: { run: async () => (await import("./commands/processes.js")).logs, writes: false, summary: "output of a detached process: logs ID PID [--follow]" },
  kill: {
    run: async () => (await import("./commands/processes.js")).kill,
    writes: false,
    summary: "signal a detached process's whole group: kill ID PID [--signal S]",
  },
  events: { run: async () => (await import("./commands/events.js")).events, writes: false, summary: "show lifecycle events (--follow); events flush" },
  reconcile: { run: async () => (await import("./commands/catalog.js")).reconcileCmd, writes: true, summary: "finish or clean up what crashed commands left" },
  profiles: { run: async () => (await import("./commands/catalog.js")).profiles, writes: false, summary: "profiles list | show ID" },
  extensions: { run: async () => (await import("./commands/catalog.js")).extensions, writes: false, summary: "extensions list" },
  hosts: { run: async () => (await import("./commands/catalog.js")).hosts, writes: false, summary: "hosts list" },
  inspect: {
    run: async () => (await import("./commands/inspect.js")).inspect,
    writes: false,
    summary: "inspect host [NAME] | inspect stale: host facts, resources without records",
  },
  "reap-stale": {
    run: async () => (await import("./commands/inspect.js")).reapStaleCmd,
    writes: true,
    summary: "remove what inspect stale finds (dry run without --apply)",
  },
  reachability: {
    run: async () => (await import("./commands/reachability.js")).reachability,
    writes: false,
    summary: "reachability show ID: how to reach a sandbox (ssh command, tunnel config)",
    light: true,
  },
  route: {
    run: async () => (await import("./commands/route.js")).route,
    writes: false,
    summary: "route explain --profile P [--input k=v]: the routing decision, creating nothing",
  },
  credits: {
    run: async () => (await import("./commands/credits.js")).credits,
    writes: true,
    summary: "credits show | add AMOUNT | history | export --since DATE [--project P]",
  },
  snapshot: {
    run: async () => (await import("./commands/snapshot.js")).snapshot,
    writes: true,
    summary: "archive a sandbox's workspace: snapshot ID [--name L] | snapshot delete SNAP",
  },
  snapshots: { run: async () => (await import("./commands/snapshot.js")).snapshots, writes: true, summary: "snapshots list | get SNAP | delete SNAP" },
  restore: {
    run: async () => (await import("./commands/snapshot.js")).restore,
    writes: true,
    summary: "create a NEW sandbox from a snapshot: restore SNAP [--host H]",
  },
  "extend-ttl": {
    run: async () => (await import("./commands/ttl.js")).extendTtl,
    writes: true,
    summary: "push a sandbox's expiry out: extend-ttl ID --duration 2h",
  },
  expire: { run: async () => (await import("./commands/ttl.js")).expire, writes: true, summary: "list expired sandboxes; --apply destroys them (reason ttl)" },
  reaper: {
    run: async () => (await import("./commands/ttl.js")).reaper,
    writes: true,
    summary: "foreground daemon: expire on schedule, retry destroy_failed, reconcile",
  },
  serve: {
    run: async () => (await import("./commands/serve.js")).serve,
    writes: false,
    summary: "HTTP API (+ TTL reaper): serve [--port N] [--host 127.0.0.1]",
  },
  db: {
    run: async () => (await import("./commands/db.js")).db,
    writes: false,
    summary: "db status | db migrate | db copy --to postgres://...: the store's schema; SQLite into PostgreSQL",
  },
  tokens: {
    run: async () => (await import("./commands/tokens.js")).tokens,
    writes: false,
    summary: "API bearer tokens: tokens create --actor agt --project P | list | revoke ID",
  },
  pools: {
    run: async () => (await import("./commands/pools.js")).pools,
    writes: true,
    summary: "warm pools: pools list | set PROFILE --size N [--input k=v] | drain PROFILE",
  },
  mcp: {
    run: async () => (await import("./commands/mcp.js")).mcp,
    writes: true,
    summary: "MCP server over stdio for agents (docs/agents.md); a tenant of SANDBOXER_URL when set",
  },
  completion: {
    run: async () => (await import("./commands/completion.js")).completion,
    writes: false,
    summary: "print a shell completion script: completion bash|zsh|fish",
    light: true,
  },
};

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    "sandboxer - establish, track and remove sandboxes",
    "",
    "usage: sandboxer COMMAND [ARGS] [--json]",
    "",
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    "",
    "Every command takes --json and --help (every flag; `create --profile P --help`: the profile's inputs).",
    "Exit codes: 0 ok, 1 failed, 2 bad input, 3 not found, 4 refused. Completion: sandboxer completion bash|zsh|fish.",
    "State: $SANDBOXER_HOME (default ~/.local/share/sandboxer). Docs: README.md, docs/.",
  ].join("\n");
}

/** `COMMAND --help`: the command's parser stopped before doing anything and handed over its flags. */
async function printHelp(cx: CliContext, name: string, summary: string, req: HelpRequest): Promise<number> {
  const help = await import("./help.js");
  cx.out.print(help.commandHelp(name, summary, req));
  const profile = req.values.profile;
  if (typeof profile === "string" && (name === "create" || name === "route" || name === "restore")) {
    const p = (await cx.broker().catalog()).profiles.get(profile);
    if (!p)
      throw new SandboxerError("SBX_PROFILE_NOT_FOUND", `profile '${profile.slice(0, 64)}' does not exist (see: sandboxer profiles list)`, {
        details: { field: "profile" },
      });
    cx.out.print(`\n${help.profileInputsHelp(p)}`);
  }
  return 0;
}

/** The one error boundary: everything below throws SandboxerError; only here is an exit code chosen. */
export async function main(argv: string[]): Promise<number> {
  const dd = argv.indexOf("--");
  const json = (dd < 0 ? argv : argv.slice(0, dd)).includes("--json");
  const out = makeOut(json);
  // `help COMMAND` is `COMMAND --help`.
  const [name, ...rest] = argv[0] === "help" && argv[1] && COMMANDS[argv[1]] ? [argv[1], "--help"] : argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    out.print(help());
    return name ? 0 : 2;
  }
  if (name === "__complete") {
    // The completion scripts' callback: candidates one per line, nothing else, always exit 0.
    const { complete } = await import("./complete.js");
    const [cword, ...words] = rest;
    for (const c of await complete(COMMANDS, Number(cword), words, process.env)) process.stdout.write(`${c}\n`);
    return 0;
  }
  if (name === "--version" || name === "version") {
    out.print(json ? JSON.stringify({ version: "0.1.0" }) : "sandboxer 0.1.0");
    return 0;
  }
  const entry = COMMANDS[name];
  // Read-only commands load only the store (unless a remote server is configured).
  const light = entry?.light && !process.env.SANDBOXER_URL;
  // Remote mode (SANDBOXER_URL) needs neither: the context hands out the API-backed broker.
  const local = entry && !process.env.SANDBOXER_URL;
  let helped = false;
  const cx = makeContext(out, process.env, light ? { read: await import("../broker/read.js") } : local ? { broker: await import("../broker.js") } : {});
  try {
    if (!entry) throw new SandboxerError("SBX_USAGE", `unknown command '${name.slice(0, 40)}' (see: sandboxer --help)`);
    try {
      return await (await entry.run())(cx, rest);
    } catch (err) {
      if (!(err instanceof HelpRequest)) throw err;
      helped = true;
      return await printHelp(cx, name, entry.summary, err);
    }
  } catch (err) {
    const e = toSandboxerError(err);
    process.stderr.write(`${formatError(e, json)}\n`);
    if (e.code === "SBX_INTERNAL" && process.env.SANDBOXER_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    return e.exitCode;
  } finally {
    const broker = cx.opened();
    if (broker) {
      // Writing commands try to deliver pending events, bounded so a down hub never slows them much.
      if (COMMANDS[name]?.writes && !helped) await broker.flushEvents(1000).catch(() => null);
    }
    await cx.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`error [SBX_INTERNAL]: ${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);
