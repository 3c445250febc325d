import { SandboxerError } from "../../errors.js";
import { parse, requirePositional } from "../args.js";
import type { CliContext } from "../context.js";
import { table } from "../output.js";

const USAGE = "sandboxer tokens create --actor adm|agt|atm [--project NAME] [--name LABEL] | tokens list | tokens revoke ID [--json]";

/** Like noExtraPositionals, without echoing: an extra argument here is most likely a pasted token. */
function noExtra(positionals: string[], max: number): void {
  if (positionals.length > max)
    throw new SandboxerError("SBX_USAGE", `${positionals.length - max} unexpected argument(s) (not shown: they may be secrets)\nusage: ${USAGE}`);
}

/**
 * API bearer tokens. Always against the local store (the server's machine):
 * minting tokens is an operator action, never one a token holder can do remotely.
 */
export async function tokens(cx: CliContext, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { actor: { type: "string" }, project: { type: "string" }, name: { type: "string" } }, USAGE);
  const sub = positionals[0] ?? "list";
  if (cx.env.SANDBOXER_URL)
    throw new SandboxerError("SBX_USAGE", "tokens are managed on the server machine; unset SANDBOXER_URL", { details: { field: "SANDBOXER_URL" } });
  const broker = cx.broker();
  if (sub === "create") {
    noExtra(positionals, 1);
    if (!values.actor) throw new SandboxerError("SBX_USAGE", `missing --actor\nusage: ${USAGE}`, { details: { field: "actor" } });
    const { token, info } = await broker.createToken({ actor: values.actor, project: values.project, name: values.name });
    if (cx.out.json) cx.out.data({ ...info, token });
    else {
      cx.out.print(token);
      cx.out.note(`${info.tokenId} (${info.actor}${info.project ? ` / ${info.project}` : ""}): shown once, store it now (only its hash is kept)`);
    }
    return 0;
  }
  if (sub === "list") {
    noExtra(positionals, 1);
    const all = await broker.listTokens();
    if (cx.out.json) cx.out.data(all);
    else if (!all.length) cx.out.note("no tokens (sandboxer tokens create --actor agt --project NAME)");
    else
      cx.out.print(
        table(
          ["ID", "ACTOR", "PROJECT", "NAME", "CREATED", "LAST USED", "REVOKED"],
          all.map((t) => [t.tokenId, t.actor, t.project ?? "*", t.name ?? "-", t.createdAt, t.lastUsedAt ?? "-", t.revokedAt ?? "-"]),
        ),
      );
    return 0;
  }
  if (sub === "revoke") {
    noExtra(positionals, 2);
    const info = await broker.revokeToken(requirePositional(positionals, 1, "ID", USAGE));
    if (cx.out.json) cx.out.data(info);
    else cx.out.print(`${info.tokenId}  revoked ${info.revokedAt}`);
    return 0;
  }
  // Not echoed: a token pasted in the wrong place must not reach the terminal or a log.
  throw new SandboxerError("SBX_USAGE", `unknown subcommand (not shown: it may be a secret); expected create, list or revoke\nusage: ${USAGE}`);
}
