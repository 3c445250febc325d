/** Reading and ending sandboxes: list, get, extend the TTL, destroy. */
import { z } from "zod";
import { canSee, listScope } from "../../api/tenancy.js";
import { LIVE_STATES } from "../../lifecycle.js";
import { SANDBOX_STATES, type SandboxState } from "../../types.js";
import { sandboxFor } from "../access.js";
import { defineTool } from "../define.js";
import { SandboxOut, sandboxId } from "../records.js";
import { sandboxView } from "../view.js";

export const listSandboxes = defineTool({
  name: "list_sandboxes",
  title: "List sandboxes",
  description: "Your sandboxes, oldest first: live and failed ones by default; give states (or all) to see destroyed ones too.",
  input: z.strictObject({
    states: z.array(z.enum(SANDBOX_STATES)).min(1).max(SANDBOX_STATES.length).optional().describe("only these states"),
    all: z.boolean().optional().describe("include destroyed records"),
    profile: z.string().min(1).max(100).optional().describe("only sandboxes of this profile"),
    limit: z.number().int().min(1).max(500).optional().describe("at most this many (default 100)"),
  }),
  output: z.object({ sandboxes: z.array(SandboxOut) }),
  annotations: { readOnlyHint: true },
  async run(args, { broker, principal }) {
    const scope = listScope(principal, undefined);
    if (!scope) return { data: { sandboxes: [] } };
    const states: readonly SandboxState[] | undefined = args.states ?? (args.all ? undefined : [...LIVE_STATES, "failed"]);
    const rows = await broker.list({ states, profile: args.profile, project: scope.project, limit: args.limit ?? 100 });
    return { data: { sandboxes: rows.filter((sb) => canSee(principal, sb.project)).map((sb) => sandboxView(principal, sb)) } };
  },
});

export const getSandbox = defineTool({
  name: "get_sandbox",
  title: "Get a sandbox",
  description: "One sandbox's record: its state, TTL (expiresAt), how to reach it, and the error if it failed.",
  input: z.strictObject({ id: sandboxId }),
  output: SandboxOut,
  annotations: { readOnlyHint: true },
  async run({ id }, { broker, principal }) {
    return { data: sandboxView(principal, await sandboxFor(broker, principal, id)) };
  },
});

export const extendTtl = defineTool({
  name: "extend_ttl",
  title: "Extend a sandbox's TTL",
  description: "Push a sandbox's expiry out by a duration (within its profile's maximum), so it is not destroyed while you still need it.",
  input: z.strictObject({ id: sandboxId, duration: z.string().min(1).max(20).describe("how much longer from now, like 30m or 2h") }),
  output: SandboxOut,
  annotations: { readOnlyHint: false, idempotentHint: false },
  async run({ id, duration }, { broker, principal }) {
    await sandboxFor(broker, principal, id);
    return { data: sandboxView(principal, await broker.extendTtl(id, duration)) };
  },
});

export const destroySandbox = defineTool({
  name: "destroy_sandbox",
  title: "Destroy a sandbox",
  description: "Tear a sandbox down with everything in it (take a snapshot first to keep its workspace). The record stays, destroyed.",
  input: z.strictObject({ id: sandboxId }),
  output: SandboxOut,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true },
  async run({ id }, { broker, principal }) {
    await sandboxFor(broker, principal, id);
    return { data: sandboxView(principal, await broker.destroy(id)) };
  },
});
