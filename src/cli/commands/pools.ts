import type { PoolStatus } from "../../broker.js";
import { SandboxerError } from "../../errors.js";
import { noExtraPositionals, parse, parseInputs, requirePositional } from "../args.js";
import type { CliContext } from "../context.js";
import { table } from "../output.js";

const USAGE = [
  "sandboxer pools list [--json]",
  "sandboxer pools set PROFILE --size N [--input k=v]... [--max-idle 30m] [--json]",
  "sandboxer pools drain PROFILE [--input k=v]... [--json]",
].join("\n       ");

const secs = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;

function rows(pools: PoolStatus[]): string[][] {
  return pools.map((p) => [
    p.key,
    String(p.size),
    String(p.ready),
    String(p.warming),
    String(p.claimed),
    p.hitRate === null ? "-" : `${Math.round(p.hitRate * 100)}%`,
    p.refillLagMs ? `${secs(p.refillLagMs.last)} (mean ${secs(p.refillLagMs.mean)})` : "-",
    `${p.maxIdleSeconds}s`,
    p.source,
  ]);
}

/** `pools list | set | drain`: warm pools of ready sandboxes per profile (docs/pools.md). */
export async function pools(cx: CliContext, argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { size: { type: "string" }, input: { type: "string", multiple: true, short: "i" }, "max-idle": { type: "string" } },
    USAGE,
  );
  const sub = positionals[0] ?? "list";
  const broker = cx.broker();
  if (sub === "list") {
    noExtraPositionals(positionals, 1, USAGE);
    const list = await broker.pools();
    if (cx.out.json) cx.out.data(list);
    else if (!list.length) cx.out.note("no pools (a profile's `pool: { size: N }`, or: sandboxer pools set PROFILE --size N)");
    else cx.out.print(table(["POOL", "SIZE", "READY", "WARMING", "CLAIMED", "HIT RATE", "REFILL LAG", "MAX IDLE", "SOURCE"], rows(list)));
    return 0;
  }
  if (sub === "set") {
    noExtraPositionals(positionals, 2, USAGE);
    const profile = requirePositional(positionals, 1, "PROFILE", USAGE);
    if (values.size === undefined || !/^\d{1,4}$/.test(values.size))
      throw new SandboxerError("SBX_USAGE", `--size: a whole number from 0 to 1000\nusage: ${USAGE}`, { details: { field: "size" } });
    const p = await broker.setPool({ profile, size: Number(values.size), maxIdle: values["max-idle"], inputs: parseInputs(values.input) });
    if (cx.out.json) cx.out.data(p);
    else
      cx.out.print(
        `${p.key}: size ${p.size}, ${p.ready} ready, max idle ${p.maxIdleSeconds}s${p.size > p.ready ? " (the reaper in `serve` or `sandboxer reaper` refills it)" : ""}`,
      );
    return 0;
  }
  if (sub === "drain") {
    noExtraPositionals(positionals, 2, USAGE);
    const profile = requirePositional(positionals, 1, "PROFILE", USAGE);
    const r = await broker.drainPool(profile, values.input ? { inputs: parseInputs(values.input) } : {});
    if (cx.out.json) cx.out.data(r);
    else {
      cx.out.print(`drained ${r.pools.join(", ") || "(no pool)"}: ${r.destroyed.length} member(s) destroyed; size 0 until \`pools set\``);
      for (const e of r.errors) cx.out.note(`error: ${e.id}: ${e.message}`);
    }
    return r.errors.length ? 1 : 0;
  }
  throw new SandboxerError("SBX_USAGE", `unknown subcommand '${sub.slice(0, 40)}'\nusage: ${USAGE}`);
}
