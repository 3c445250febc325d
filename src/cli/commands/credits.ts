import { writeFileSync } from "node:fs";
import { accountFor, DEFAULT_ACCOUNT, POOL_ACCOUNT } from "../../credits/index.js";
import { SandboxerError } from "../../errors.js";
import { noExtraPositionals, parse, requirePositional } from "../args.js";
import type { CliContext } from "../context.js";
import { table } from "../output.js";

const USAGE = [
  "sandboxer credits show [--project P | --pool] [--all] [--json]",
  "sandboxer credits add AMOUNT [--project P | --pool] [--note TEXT] [--json]",
  "sandboxer credits history [--project P | --pool] [--limit N] [--json]",
  "sandboxer credits export --since DATE [--project P | --pool] [--output FILE]     (JSON lines)",
].join("\n       ");
const PROJECT_RE = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

function projectAccount(project: string | undefined): string {
  if (project !== undefined && !PROJECT_RE.test(project)) {
    throw new SandboxerError("SBX_USAGE", "project: must be a name of lowercase letters, digits, '_', '.', '-' (at most 63)", {
      details: { field: "project" },
    });
  }
  return accountFor(project ?? null);
}

function sinceIso(text: string | undefined): string {
  if (!text)
    throw new SandboxerError("SBX_USAGE", `credits export needs --since DATE (e.g. 2026-01-01 or 2026-01-01T00:00:00Z)\nusage: ${USAGE}`, {
      details: { field: "since" },
    });
  const ms = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+Z?)?$/.test(text) ? Date.parse(text.length === 10 ? `${text}T00:00:00Z` : text) : Number.NaN;
  if (Number.isNaN(ms))
    throw new SandboxerError("SBX_USAGE", `since: '${text.slice(0, 40)}' is not a date like 2026-01-01 or 2026-01-01T12:00:00Z`, {
      details: { field: "since" },
    });
  return new Date(ms).toISOString();
}

const notFoundAsNone = (err: unknown): undefined => {
  if (err instanceof SandboxerError && err.code === "SBX_NOT_FOUND") return undefined;
  throw err;
};

/** `credits show | add | history | export`: the broker's ledger, local or on the server (SANDBOXER_URL). */
export async function credits(cx: CliContext, argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      project: { type: "string" },
      pool: { type: "boolean" },
      all: { type: "boolean" },
      note: { type: "string" },
      limit: { type: "string" },
      since: { type: "string" },
      output: { type: "string" },
    },
    USAGE,
  );
  const sub = positionals[0] ?? "show";
  if (values.pool && values.project !== undefined)
    throw new SandboxerError("SBX_USAGE", `--project and --pool name two different accounts; give one\nusage: ${USAGE}`, { details: { field: "pool" } });
  const broker = cx.broker();
  // --pool: the operator's account that idle warm pool members draw on (docs/pools.md).
  const accountOf = () => (values.pool ? POOL_ACCOUNT : projectAccount(values.project));
  if (sub === "show") {
    noExtraPositionals(positionals, 1, USAGE);
    const accounts = await broker.credits({ account: values.all ? undefined : accountOf() });
    if (cx.out.json) {
      cx.out.data(values.all ? accounts : accounts[0]);
      return 0;
    }
    // The default view names the pool account too once it has been used: idle members are the operator's cost.
    // A tenant token (remote) is not shown it (SBX_NOT_FOUND): its view is its own account.
    if (!values.all && !values.project && !values.pool) {
      const pool = (await broker.credits({ account: POOL_ACCOUNT }).catch(notFoundAsNone))?.[0];
      if (pool?.updatedAt && !accounts.some((a) => a.account === POOL_ACCOUNT)) accounts.push(pool);
    }
    cx.out.print(
      table(
        ["ACCOUNT", "BALANCE", "RESERVED", "AVAILABLE"],
        accounts.map((a) => [a.account, String(a.balance), String(a.reserved), String(a.available)]),
      ),
    );
    return 0;
  }
  if (sub === "add") {
    noExtraPositionals(positionals, 2, USAGE);
    const amount = requirePositional(positionals, 1, "AMOUNT", USAGE);
    const account = accountOf();
    const after = await broker.addCredits({ account, amount, note: values.note?.slice(0, 200) });
    if (cx.out.json) cx.out.data(after);
    else
      cx.out.print(
        `${account}: balance ${after.balance}, available ${after.available}${account === DEFAULT_ACCOUNT ? " (default account: sandboxes without --project)" : ""}`,
      );
    return 0;
  }
  if (sub === "history") {
    noExtraPositionals(positionals, 1, USAGE);
    const limit = values.limit === undefined ? 50 : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100_000)
      throw new SandboxerError("SBX_USAGE", "limit: must be an integer from 1 to 100000", { details: { field: "limit" } });
    const entries = await broker.creditHistory({ account: values.project || values.pool ? accountOf() : undefined, limit });
    if (cx.out.json) cx.out.data(entries);
    else
      cx.out.print(
        table(
          ["AT", "ACCOUNT", "KIND", "AMOUNT", "BALANCE", "RESERVED", "SANDBOX"],
          entries.map((e) => [e.at, e.account, e.kind, String(e.amount), String(e.balance), String(e.reserved), e.sandboxId ?? "-"]),
        ),
      );
    return 0;
  }
  if (sub === "export") {
    noExtraPositionals(positionals, 1, USAGE);
    const entries = await broker.creditHistory({ since: sinceIso(values.since), account: values.project || values.pool ? accountOf() : undefined });
    if (cx.out.json && !values.output) {
      cx.out.data(entries);
      return 0;
    }
    const lines = entries.map((e) => `${JSON.stringify(e)}\n`).join("");
    if (values.output) {
      writeFileSync(values.output, lines, { mode: 0o600 });
      cx.out.note(`${entries.length} entries written to ${values.output}`);
    } else process.stdout.write(lines);
    return 0;
  }
  throw new SandboxerError("SBX_USAGE", `unknown subcommand '${sub.slice(0, 40)}'\nusage: ${USAGE}`);
}
