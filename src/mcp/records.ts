/**
 * Output schemas shared by several tools. Records are loose objects: the
 * fields an agent relies on are required and typed, anything else the broker
 * adds (route, cost, host facts) passes through, so a new record field never
 * makes a tool fail its own output check.
 */
import { z } from "zod";
import { SANDBOX_STATES } from "../types.js";

const iso = z.string().describe("ISO 8601 timestamp");

export const SandboxOut = z.looseObject({
  id: z.string().describe("sbx-<12 lowercase base32>"),
  state: z.enum(SANDBOX_STATES),
  profile: z.string(),
  extension: z.string(),
  host: z.string(),
  project: z.string().nullable(),
  inputs: z.record(z.string(), z.string()),
  createdAt: iso,
  readyAt: iso.nullable(),
  expiresAt: iso.nullable().describe("when the TTL ends and the sandbox is destroyed; extend_ttl pushes it out"),
  destroyedAt: iso.nullable(),
  reason: z.string().nullable(),
  reachability: z.record(z.string(), z.unknown()).nullable().describe("how to reach it (services, ports, ssh) where the backend offers more than exec"),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
});

export const SnapshotOut = z.looseObject({
  id: z.string().describe("snap-<12 lowercase base32>"),
  name: z.string().nullable(),
  sandboxId: z.string(),
  profile: z.string(),
  extension: z.string(),
  sizeBytes: z.number().int(),
  createdAt: iso,
});

export const ProcessOut = z.looseObject({
  pid: z.string().describe("the process id to pass to read_process_output and kill_process"),
  argv: z.array(z.string()),
  service: z.string().optional(),
  startedAt: iso,
  endedAt: iso.nullable(),
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  state: z.enum(["running", "exited", "killed"]),
});

/** The id arguments, bounded like the API's path parameters. */
export const sandboxId = z.string().min(1).max(80).describe("the sandbox id (sbx-...) from create_sandbox or list_sandboxes");
export const serviceArg = z.string().min(1).max(128).optional().describe("compose stacks: the service (container) to act in; default the first");
