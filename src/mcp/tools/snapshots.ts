/** Snapshots: keep a sandbox's workspace, and start a NEW sandbox from it. */
import { z } from "zod";
import { requestFor, sandboxFor, snapshotFor } from "../access.js";
import { defineTool } from "../define.js";
import { followProgress } from "../progress.js";
import { SandboxOut, SnapshotOut, sandboxId } from "../records.js";
import { sandboxView, snapshotView } from "../view.js";
import { createInputs, ttlArg } from "./create-sandbox.js";

export const snapshotSandbox = defineTool({
  name: "snapshot_sandbox",
  title: "Snapshot a sandbox",
  description: "Archive a ready sandbox's workspace as a snapshot (the sandbox keeps running). restore_snapshot starts a new sandbox from it.",
  input: z.strictObject({ id: sandboxId, name: z.string().min(1).max(64).optional().describe("a label to find it by") }),
  output: SnapshotOut,
  annotations: { readOnlyHint: false, destructiveHint: false },
  async run({ id, name }, { broker, principal, signal }) {
    await sandboxFor(broker, principal, id);
    return { data: snapshotView(principal, await broker.snapshot(id, { name, signal })) };
  },
});

export const restoreSnapshot = defineTool({
  name: "restore_snapshot",
  title: "Restore a snapshot",
  description: "Create a NEW sandbox whose workspace is the snapshot's (sends progress notifications while it provisions). Returns the new sandbox's record.",
  input: z.strictObject({
    snapshot: z.string().min(1).max(80).describe("the snapshot id (snap-...) from snapshot_sandbox"),
    profile: z.string().min(1).max(100).optional().describe("restore into another profile (default the snapshot's)"),
    inputs: createInputs,
    ttl: ttlArg,
  }),
  output: SandboxOut,
  annotations: { readOnlyHint: false, destructiveHint: false },
  async run(args, call) {
    await snapshotFor(call.broker, call.principal, args.snapshot);
    const req = requestFor(call.principal, { profile: args.profile, inputs: args.inputs, ttl: args.ttl });
    const progress = followProgress(call.broker, call);
    try {
      const sb = await call.broker.restore(args.snapshot, {
        profile: req.profile,
        inputs: req.inputs,
        ttl: req.ttl,
        actor: req.actor,
        project: req.project,
        caller: req.caller,
        signal: call.signal,
      });
      progress.follow(sb.id, `restored ${args.snapshot} into ${sb.id}`);
      return { data: sandboxView(call.principal, sb) };
    } finally {
      await progress.finish();
    }
  },
});
