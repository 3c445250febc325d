import { z } from "zod";
import { requestFor } from "../access.js";
import { defineTool } from "../define.js";
import { followProgress } from "../progress.js";
import { SandboxOut } from "../records.js";
import { sandboxView } from "../view.js";

export const createInputs = z
  .record(z.string().max(64), z.union([z.string().max(4096), z.number(), z.boolean()]))
  .optional()
  .describe("the profile's inputs by name (list_profiles shows them); numbers and booleans are sent as text");
export const ttlArg = z.string().min(1).max(20).optional().describe("how long it may live, like 30m or 2h (default and maximum per profile)");

export const createSandbox = defineTool({
  name: "create_sandbox",
  title: "Create a sandbox",
  description:
    "Create a sandbox from a profile and wait until it is ready (sends progress notifications while it provisions). Returns the record: its id is what every other tool takes. It is destroyed when its TTL ends (see expiresAt, extend_ttl) or by destroy_sandbox.",
  input: z.strictObject({
    profile: z.string().min(1).max(100).optional().describe("profile id from list_profiles; default profile.sandbox-canary"),
    inputs: createInputs,
    ttl: ttlArg,
  }),
  output: SandboxOut,
  annotations: { readOnlyHint: false, destructiveHint: false },
  async run(args, call) {
    const req = requestFor(call.principal, { profile: args.profile, inputs: args.inputs, ttl: args.ttl });
    const progress = followProgress(call.broker, call);
    try {
      const sb = await call.broker.create(req, {
        signal: call.signal,
        onRecord: (r) => progress.follow(r.id, `created ${r.id} (${r.profile} on ${r.extension})`),
      });
      // A remote broker announces the record only once the create is over: its events still follow.
      progress.follow(sb.id, `created ${sb.id} (${sb.profile} on ${sb.extension})`);
      return { data: sandboxView(call.principal, sb) };
    } finally {
      // Before the answer goes out, so every step reaches the client first.
      await progress.finish();
    }
  },
});
