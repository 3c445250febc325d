import { type CreatePlan, refusalOf } from "../../broker.js";
import { SandboxerError } from "../../errors.js";
import { noExtraPositionals, parse } from "../args.js";
import type { CliContext } from "../context.js";
import { REQUEST_FLAGS, requestFrom } from "../long-work.js";
import { table } from "../output.js";

const USAGE = "sandboxer route explain [--profile ID] [--input k=v]... [--host NAME] [--ttl 2h] [--route STRATEGY] [--extension ID] [--project NAME] [--json]";

/** `route explain`: the decision a create would take right now, without creating anything. */
export async function route(cx: CliContext, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, REQUEST_FLAGS, USAGE);
  if ((positionals[0] ?? "explain") !== "explain") throw new SandboxerError("SBX_USAGE", `unknown subcommand '${positionals[0]}'\nusage: ${USAGE}`);
  noExtraPositionals(positionals, 1, USAGE);
  let plan: CreatePlan;
  try {
    plan = await cx.broker().plan(requestFrom(values));
  } catch (err) {
    // Refused (no credits, no capacity): the explain still answers, with every candidate's reason.
    const refusal = refusalOf(err);
    if (!refusal) throw err;
    if (cx.out.json)
      cx.out.data({
        profile: refusal.profile,
        host: null,
        ttlSeconds: refusal.ttlSeconds,
        project: refusal.project,
        chosen: null,
        strategy: refusal.strategy,
        reason: refusal.message,
        rejected: refusal.rejected,
        refused: { code: refusal.code, message: refusal.message },
      });
    else {
      cx.out.print(`${refusal.profile}: no usable extension (${refusal.strategy}); a create would be refused with ${refusal.code}`);
      cx.out.print(
        table(
          ["EXTENSION", "REJECTED BECAUSE"],
          refusal.rejected.map((r) => [r.extension, r.why]),
        ),
      );
    }
    return 0;
  }
  const decision = plan.route;
  if (cx.out.json) {
    cx.out.data({ profile: plan.profile.id, host: plan.host.name, ttlSeconds: plan.ttlSeconds, project: plan.project, ...decision });
    return 0;
  }
  cx.out.print(`${plan.profile.id}: ${decision.chosen} on ${plan.host.name} (${decision.strategy})\n  ${decision.reason}`);
  if (decision.estimates?.length) {
    cx.out.print(
      table(
        ["RANK", "EXTENSION", "KIND", "PRICE/H", "READY~", "SOURCE", "HOST"],
        decision.estimates.map((e, i) => [String(i + 1), e.extension, e.kind, String(e.pricePerHour), `${e.readySeconds}s`, e.readySource, e.host ?? "-"]),
      ),
    );
  }
  for (const r of decision.rejected) cx.out.print(`  rejected ${r.extension}: ${r.why}`);
  if (decision.pool) {
    const warm = Object.entries(decision.pool.warm);
    const served = (decision.pool.warm[decision.chosen] ?? 0) > 0;
    cx.out.print(
      `  pool ${decision.pool.key}: ${warm.length ? warm.map(([e, n]) => `${n} warm on ${e}`).join(", ") : "no warm member"}; ${served ? "a create now claims a warm member" : "a create now is cold"}`,
    );
  }
  return 0;
}
