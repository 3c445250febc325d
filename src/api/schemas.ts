/**
 * The API's wire shapes, once: the server validates requests with them, the
 * OpenAPI document is generated from them, and the typed client takes its
 * types from them. Request objects are strict, so an unknown field is a 400.
 */
import { z } from "zod";
import { ACTOR_TYPES, DESTROY_REASONS, SANDBOX_STATES } from "../types.js";

const json = z.record(z.string(), z.unknown());
const iso = z.string().describe("ISO 8601 timestamp");
const shortText = (max: number) => z.string().min(1).max(max);

export const ErrorBody = z.object({
  error: z.object({ code: z.string().describe("SBX_* code, see docs/errors.md"), message: z.string() }),
});

export const SandboxRecord = z.object({
  id: z.string().describe("sbx-<12 lowercase base32>"),
  profile: z.string(),
  profileVersion: z.number().int(),
  extension: z.string(),
  mode: z.string().nullable(),
  host: z.string(),
  state: z.enum(SANDBOX_STATES),
  actor: z.enum(ACTOR_TYPES),
  project: z.string().nullable(),
  inputs: z.record(z.string(), z.string()),
  createdAt: iso,
  readyAt: iso.nullable(),
  expiresAt: iso.nullable(),
  destroyedAt: iso.nullable(),
  reason: z.enum(DESTROY_REASONS).nullable(),
  reachability: json.nullable(),
  route: z
    .object({ chosen: z.string(), strategy: z.string(), reason: z.string(), rejected: z.array(z.object({ extension: z.string(), why: z.string() })) })
    .nullable(),
  cost: json.nullable(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  hostFacts: json.nullable(),
  ttlSeconds: z.number().int().nullable(),
  updatedAt: iso,
});

/** `reachability.ssh_target`: how a consumer reaches the host itself (docs/integrations/wise-validator.md). */
export const SshTarget = z.object({
  host: z.string().describe("address ssh connects to (ssh_config's HostName when the inventory names an alias)"),
  user: z.string().nullable(),
  port: z.number().int().nullable(),
  alias: z.string().describe("the name given to ssh"),
  argv: z.array(z.string()).describe("ssh argv without the remote command; append it as one argument"),
  command: z.string().describe("argv quoted for a POSIX shell"),
});

/** What every backend with a directory on an SSH host adds to `reachability` (ext.compose-ssh, ext.vm-packer attach). */
export const RemoteReachability = z.looseObject({
  kind: z.string(),
  remote_dir: z.string().describe("the sandbox's directory on its host; run commands there"),
  ssh_target: SshTarget.nullable().describe("null: the directory is on the machine running sand-boxer"),
  workspace: z.string().describe("same as remote_dir (older name, kept)"),
});

/** One event as POSTed to the State Hub (header Idempotency-Key: its id); the outbox seq stays here. */
export const HubEvent = z.object({
  id: z.string().describe("evt-...; also the Idempotency-Key header"),
  type: z.string().describe("sandbox.requested, sandbox.provisioning, sandbox.progress, sandbox.ready, sandbox.destroyed, ..."),
  sandboxId: z.string().nullable(),
  at: iso,
  actor: z.string().nullable(),
  project: z.string().nullable(),
  data: json,
});

export const CreateBody = z.strictObject({
  profile: shortText(100).optional().describe("profile id; default profile.sandbox-canary"),
  inputs: z
    .record(z.string().max(64), z.union([z.string().max(4096), z.number(), z.boolean()]))
    .optional()
    .describe("profile inputs; numbers and booleans are sent as their string form"),
  host: shortText(100).optional(),
  ttl: shortText(20).optional().describe("duration such as 90s, 30m, 2h"),
  route: shortText(40).optional().describe("routing strategy"),
  extension: shortText(60).optional().describe("force one extension"),
  actor: z.enum(ACTOR_TYPES).optional().describe("adm tokens only; agt/atm tokens always act as themselves"),
  project: shortText(63).optional().describe("agt/atm tokens: must be the token's project (the default)"),
});

export const CreateQuery = z.strictObject({
  wait: z.enum(["true", "false"]).optional().describe("false: answer 202 as soon as the record is provisioning"),
});

const stateList = z
  .string()
  .regex(new RegExp(`^(${SANDBOX_STATES.join("|")})(,(${SANDBOX_STATES.join("|")}))*$`), `comma-separated states among ${SANDBOX_STATES.join(", ")}`);

export const ListQuery = z.strictObject({
  state: stateList.optional(),
  profile: shortText(100).optional(),
  project: shortText(63).optional(),
  extension: shortText(60).optional(),
  host: shortText(100).optional(),
  all: z.enum(["true", "false"]).optional().describe("include destroyed records (hidden by default, like `docker ps`)"),
  limit: z.coerce.number().int().min(1).max(500).optional().describe("page size, default 100"),
  cursor: shortText(200).optional().describe("nextCursor of the previous page"),
});

export const SandboxList = z.object({ items: z.array(SandboxRecord), nextCursor: z.string().nullable() });

export const IdParams = z.object({ id: shortText(80) });

export const TtlBody = z.strictObject({ duration: shortText(20).describe("how much longer, e.g. 2h") });
export const SnapshotBody = z.strictObject({ name: shortText(64).optional() });
export const ExpireBody = z.strictObject({ apply: z.boolean().optional().describe("false (default): only report what would expire") });
export const ExecBody = z.strictObject({
  command: z.array(z.string().max(4096)).min(1).max(256).describe("argv; never passed through a shell"),
  service: z.string().max(128).optional().describe("compose stacks: the service whose container runs the command (default: the first)"),
  stream: z
    .boolean()
    .optional()
    .describe(
      "true: answer text/event-stream - `stdout`/`stderr` events ({data}) as output arrives, then one `exit` event ({exitCode, timedOut}) or `error` ({code, message})",
    ),
  timeout: shortText(20).optional().describe("kill the command's whole process group after this long (90s, 5m); exitCode is then 124 and timedOut true"),
  stdin: z
    .string()
    .max(48 * 1024)
    .optional()
    .describe("text for the command's stdin (backends with a command into the sandbox)"),
  stdinBase64: z
    .string()
    .max(64 * 1024)
    .optional()
    .describe("bytes for stdin, base64 (instead of stdin)"),
});
export const ExecResult = z.object({
  id: z.string(),
  command: z.array(z.string()),
  exitCode: z.number().int(),
  stdout: z.string(),
  stderr: z.string(),
  truncated: z.boolean().describe("captured output passed 8 MiB and was cut"),
  timedOut: z.boolean().optional().describe("the timeout passed and the command's process group was killed"),
});

const sandboxPath = z.string().min(1).max(4096).describe("a path inside the sandbox: absolute, or relative to its workspace");
const flag = z.enum(["1", "true", "0", "false"]);
export const FilesGetQuery = z.strictObject({
  path: sandboxPath,
  list: flag.optional().describe("1: a JSON listing of the directory (or the file) instead of its bytes"),
  stat: flag.optional().describe("1: the entry at path itself (a FileEntry; links not followed) instead of its bytes"),
  limit: z.coerce.number().int().min(0).max(100_000).optional().describe("listing: at most this many entries (default 1000)"),
  service: z.string().max(128).optional().describe("compose stacks: the service's container"),
});
export const FilesPutQuery = z.strictObject({
  path: sandboxPath.describe("raw bytes: the file to write; a tar: the directory to extract it into"),
  mode: z
    .string()
    .regex(/^0?[0-7]{3,4}$/, "octal permission bits like 0644 or 755")
    .optional()
    .describe("raw bytes: the file's mode (default 0644 less the umask)"),
  service: z.string().max(128).optional(),
});
export const FilesDeleteQuery = z.strictObject({
  path: sandboxPath,
  recursive: flag.optional().describe("1: directories too, with what is in them"),
  service: z.string().max(128).optional(),
});
export const FileEntryRecord = z.object({
  name: z.string(),
  path: z.string(),
  type: z.enum(["file", "dir", "symlink", "other"]),
  size: z.number().int(),
  mode: z.string().describe("octal permission bits, e.g. 0644"),
  mtime: iso,
  target: z.string().optional().describe("a symlink's target as stored; never followed"),
});
export const FileList = z.object({ entries: z.array(FileEntryRecord), truncated: z.boolean(), total: z.number().int() });
export const FileWritten = z.object({ path: z.string(), bytes: z.number().int(), kind: z.enum(["file", "tar"]) });
export const FileDeleted = z.object({ path: z.string(), deleted: z.boolean() });

export const ProcessRecord = z.object({
  pid: z.string().describe("proc-<10 lowercase base32>"),
  argv: z.array(z.string()),
  service: z.string().optional(),
  startedAt: iso,
  endedAt: iso.nullable(),
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  state: z.enum(["running", "exited", "killed"]),
});
export const ProcessList = z.array(ProcessRecord);
export const StartProcessBody = z.strictObject({
  command: z.array(z.string().max(4096)).min(1).max(256).describe("argv; never passed through a shell"),
  service: z.string().max(128).optional(),
  cwd: z.string().min(1).max(4096).optional().describe("working directory inside the sandbox (default: the workspace)"),
});
export const ProcessParams = z.object({ id: shortText(80), pid: shortText(40) });
export const ProcessOutputQuery = z.strictObject({
  offset: z.coerce.number().int().min(0).optional().describe("byte offset into the process's whole output (nextOffset of the previous read)"),
  maxBytes: z.coerce
    .number()
    .int()
    .min(1)
    .max(16 * 1024 * 1024)
    .optional()
    .describe("default 64 KiB"),
});
export const ProcessOutputRecord = z.object({
  data: z.string().describe("stdout and stderr interleaved, UTF-8"),
  offset: z.number().int().describe("where `data` starts (later than asked when the ring no longer holds the bytes asked for)"),
  nextOffset: z.number().int(),
  dropped: z.number().int().describe("bytes between the offset asked for and `offset` the bounded ring no longer keeps"),
  done: z.boolean().describe("the process ended and everything it wrote has been read"),
  exitCode: z.number().int().nullable(),
});
export const KillBody = z.strictObject({ signal: z.string().max(10).optional().describe("TERM (default), KILL, INT, HUP, QUIT, USR1, USR2, STOP, CONT") });

export const SnapshotRecord = z.object({
  id: z.string().describe("snap-<12 lowercase base32>"),
  name: z.string().nullable(),
  sandboxId: z.string(),
  profile: z.string(),
  profileVersion: z.number().int(),
  extension: z.string(),
  host: z.string(),
  inputs: z.record(z.string(), z.string()),
  actor: z.string(),
  project: z.string().nullable(),
  format: z.string(),
  digest: z.string().describe("<algorithm>:<hex> of the archive, verified before every restore: blake3, or sha256 for older snapshots"),
  sha256: z.string().nullable().describe("the hex SHA-256 when that is the digest's algorithm (snapshots made before BLAKE3), else null"),
  sizeBytes: z.number().int(),
  path: z.string().optional().describe("archive path on the server; adm tokens only"),
  createdAt: iso,
});
export const SnapshotList = z.array(SnapshotRecord);
export const SnapshotQuery = z.strictObject({ sandbox: shortText(80).optional(), profile: shortText(100).optional(), project: shortText(63).optional() });
export const RestoreBody = CreateBody.pick({ host: true, ttl: true, profile: true, inputs: true, extension: true, actor: true, project: true });
export const ExpireReport = z.object({
  applied: z.boolean(),
  expired: z.array(SandboxRecord),
  destroyed: z.array(z.string()),
  skipped: z.array(z.string()),
  errors: z.array(z.object({ id: z.string(), message: z.string() })),
});
export const CreditAccount = z.object({
  account: z.string(),
  balance: z.number(),
  reserved: z.number(),
  available: z.number(),
  updatedAt: z.string().nullable(),
});
export const Credits = z.object({ accounts: z.array(CreditAccount) });
export const CreditEntry = z.object({
  seq: z.number().int(),
  account: z.string(),
  sandboxId: z.string().nullable(),
  kind: z.enum(["add", "reserve", "debit", "release"]),
  amount: z.number(),
  balance: z.number(),
  reserved: z.number(),
  at: iso,
  data: json,
});
export const CreditHistory = z.array(CreditEntry);
export const CreditHistoryQuery = z.strictObject({
  project: shortText(63).optional().describe("adm only: one project's account"),
  since: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}(T[\d:.]+Z)?$/, "a date like 2026-01-01 or 2026-01-01T00:00:00Z")
    .optional(),
  limit: z.coerce.number().int().min(1).max(100_000).optional().describe("latest N entries (default 50; all with since)"),
});
export const CreditsAdd = z.strictObject({
  amount: z.union([z.number().positive(), z.string().min(1).max(30)]).describe('credits to add, e.g. 25 or "12.5"'),
  project: shortText(63).optional().describe("the account; default the `default` account"),
  note: z.string().max(200).optional(),
});
export const PlanResult = z.object({
  profile: json,
  registration: json.optional(),
  route: json,
  host: json.optional(),
  inputs: z.record(z.string(), z.string()).optional(),
  ttlSeconds: z.number().int(),
  actor: z.string().optional(),
  project: z.string().nullable(),
  mode: z.string().nullable().optional(),
  refused: z
    .object({ code: z.string(), message: z.string() })
    .optional()
    .describe("set when a create would be refused (no credits, no capacity): `route.rejected` says why for every candidate; the other plan fields are absent"),
});
export const CreditsQuery = z.strictObject({ project: shortText(63).optional().describe("adm only: one project's account") });

export const EventRecord = z.object({
  seq: z.number().int().describe("also the SSE event id; send it back as Last-Event-ID to resume"),
  id: z.string(),
  type: z.string(),
  sandboxId: z.string().nullable(),
  at: iso,
  actor: z.string().nullable(),
  project: z.string().nullable(),
  data: json,
});
export const EventsQuery = z.strictObject({
  sandbox: shortText(80).optional().describe("only this sandbox's events"),
  after: z.coerce.number().int().min(0).optional().describe("start after this seq (Last-Event-ID wins when both are given)"),
  limit: z.coerce.number().int().min(1).max(5000).optional().describe("JSON form only: at most this many"),
  format: z.enum(["sse", "json"]).optional().describe("default: sse, or json when Accept is application/json"),
});
export const EventList = z.object({ items: z.array(EventRecord), lastSeq: z.number().int() });

export const HostRecord = z.object({
  name: z.string(),
  labels: z.array(z.string()),
  compose: z.string().nullable(),
  workspaceRoot: z.string().nullable(),
  ssh: z.object({ host: z.string(), user: z.string().nullable(), port: z.number().int().nullable() }).nullable().describe("adm tokens only"),
});
export const HostList = z.array(HostRecord);
export const ProfileList = z.object({ profiles: z.array(json), errors: z.array(json), warnings: z.array(json) });
export const ExtensionList = z.array(json);
export const ReconcileReport = z.object({ actions: z.array(json), orphans: z.array(json), errors: z.array(json) });
export const Health = z.object({
  ok: z.boolean(),
  version: z.string(),
  schemaVersion: z.number().int(),
  store: z.string().optional(),
  replica: z.string().optional(),
  error: z.string().optional(),
});
export const Ready = z.object({ ready: z.boolean(), reason: z.string().optional() });

/** Named schemas that become `#/components/schemas/<name>` in the OpenAPI document. */
export const COMPONENTS = {
  Error: ErrorBody,
  Sandbox: SandboxRecord,
  SshTarget,
  RemoteReachability,
  HubEvent,
  SandboxList,
  CreateSandbox: CreateBody,
  ExtendTtl: TtlBody,
  CreateSnapshot: SnapshotBody,
  Snapshot: SnapshotRecord,
  RestoreSnapshot: RestoreBody,
  ExpireReport,
  Expire: ExpireBody,
  Exec: ExecBody,
  ExecResult,
  FileEntry: FileEntryRecord,
  FileList,
  Process: ProcessRecord,
  StartProcess: StartProcessBody,
  ProcessOutput: ProcessOutputRecord,
  Event: EventRecord,
  EventList,
  Host: HostRecord,
  ProfileList,
  ReconcileReport,
  Credits,
  CreditHistory,
  AddCredits: CreditsAdd,
  Plan: PlanResult,
  Health,
  Ready,
} as const;

export type SandboxT = z.infer<typeof SandboxRecord>;
export type CreateBodyT = z.input<typeof CreateBody>;
export type ExecBodyT = z.infer<typeof ExecBody>;
export type ListQueryT = z.input<typeof ListQuery>;
export type EventT = z.infer<typeof EventRecord>;
export type HostT = z.infer<typeof HostRecord>;

/**
 * Terminal WebSocket messages (GET /v1/sandboxes/{id}/exec upgraded; docs/api.md
 * "Interactive terminals"). Binary frames carry the terminal's bytes both ways;
 * text frames carry these JSON control messages: the client sends `resize`, the
 * server ends with `exit` (close 1000) or `error` (close 1011).
 */
export const TerminalClientMessage = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("resize"), cols: z.number().int().min(1).max(1000), rows: z.number().int().min(1).max(1000) }),
]);
export type TerminalClientMessageT = z.infer<typeof TerminalClientMessage>;

export type TerminalServerMessage = { type: "exit"; exitCode: number } | { type: "error"; code: string; message: string };

/** Largest control message a client may send (a resize is ~40 bytes). */
export const TERMINAL_MAX_CONTROL_BYTES = 256;
/** Largest binary frame accepted from a client (keys and pastes). */
export const TERMINAL_MAX_INPUT_FRAME = 64 * 1024;
