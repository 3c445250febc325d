import { SandboxerClient } from "../../client/index.js";
import { SandboxerError } from "../../errors.js";
import { noExtraPositionals, parse, requirePositional } from "../args.js";
import type { CliContext } from "../context.js";
import { table } from "../output.js";

const USAGE = "sandboxer credits show [--project P] [--all] | add AMOUNT [--project P] [--note TEXT] | history [--project P] [--limit N] | export --since DATE [--json]";

/** `sandboxer credits` against a remote server (SANDBOXER_URL): the same output, over /v1/credits. */
export async function creditsRemote(cx: CliContext, argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { project: { type: "string" }, all: { type: "boolean" }, note: { type: "string" }, limit: { type: "string" }, since: { type: "string" }, output: { type: "string" } },
    USAGE,
  );
  const client = new SandboxerClient({ url: cx.env.SANDBOXER_URL as string, token: cx.env.SANDBOXER_TOKEN || undefined });
  const sub = positionals[0] ?? "show";
  const accountsTable = (accounts: { account: string; balance: number; reserved: number; available: number }[]) =>
    table(["ACCOUNT", "BALANCE", "RESERVED", "AVAILABLE"], accounts.map((a) => [a.account, String(a.balance), String(a.reserved), String(a.available)]));
  if (sub === "show") {
    noExtraPositionals(positionals, 1, USAGE);
    const { accounts } = await client.credits({ project: values.all ? undefined : (values.project ?? "default") });
    if (cx.out.json) cx.out.data(values.all ? accounts : accounts[0]);
    else cx.out.print(accountsTable(accounts));
    return 0;
  }
  if (sub === "add") {
    noExtraPositionals(positionals, 2, USAGE);
    const { accounts } = await client.addCredits({ amount: requirePositional(positionals, 1, "AMOUNT", USAGE), project: values.project, note: values.note });
    const a = accounts[0];
    if (cx.out.json) cx.out.data(a);
    else if (a) cx.out.print(`${a.account}: balance ${a.balance}, available ${a.available}`);
    return 0;
  }
  if (sub === "history" || sub === "export") {
    noExtraPositionals(positionals, 1, USAGE);
    if (sub === "export" && !values.since) throw new SandboxerError("SBX_USAGE", `credits export needs --since DATE\nusage: ${USAGE}`, { details: { field: "since" } });
    if (values.output) throw new SandboxerError("SBX_USAGE", "--output writes on the server's disk; redirect stdout instead", { details: { field: "output" } });
    const limit = values.limit === undefined ? undefined : Number(values.limit);
    const entries = await client.creditHistory({ project: values.project, since: values.since, limit });
    if (sub === "export" && !cx.out.json) process.stdout.write(entries.map((e) => `${JSON.stringify(e)}\n`).join(""));
    else if (cx.out.json) cx.out.data(entries);
    else cx.out.print(table(["AT", "ACCOUNT", "KIND", "AMOUNT", "BALANCE", "RESERVED", "SANDBOX"], entries.map((e) => [e.at, e.account, e.kind, String(e.amount), String(e.balance), String(e.reserved), e.sandboxId ?? "-"])));
    return 0;
  }
  throw new SandboxerError("SBX_USAGE", `unknown subcommand '${sub.slice(0, 40)}'\nusage: ${USAGE}`);
}
