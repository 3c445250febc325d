import { noExtraPositionals, parse } from "../args.js";
import type { CliContext } from "../context.js";

const USAGE = "sandboxer mcp   (MCP over stdio; as a tenant of a remote server when SANDBOXER_URL and SANDBOXER_TOKEN are set)";

/**
 * `sandboxer mcp`: the MCP server over stdio (src/mcp/), for agents that
 * start their tools as subprocesses. Locally it acts as the operator; with
 * SANDBOXER_URL every tool goes to that server, under its token's tenancy.
 */
export async function mcp(cx: CliContext, argv: string[]): Promise<number> {
  const { positionals } = parse(argv, {}, USAGE);
  noExtraPositionals(positionals, 0, USAGE);
  const broker = cx.broker();
  const { runStdio, LOCAL_OPERATOR } = await import("../../mcp/stdio.js");
  // A remote server delivers its own events; locally, deliver what each change recorded (bounded, as other writing commands do).
  const afterWrite = cx.env.SANDBOXER_URL ? undefined : async () => void (await broker.flushEvents(1000));
  await runStdio({ broker, principal: LOCAL_OPERATOR, afterWrite });
  return 0;
}
