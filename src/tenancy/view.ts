/**
 * What a tenant may see. Operators (`adm`) see everything; tenants get
 * records, events, snapshots and plans without server internals: workspace
 * directories, build logs, ssh config paths (`-F`), snapshot archive paths,
 * process ids, host-side log paths, profile files. Pure functions: the API,
 * the dashboard and the MCP tools all answer through them.
 */
import type { CreatePlan } from "../broker.js";
import type { Profile, Registration } from "../catalog/schema.js";
import type { Snapshot } from "../snapshots/types.js";
import type { Json, JsonObject, Sandbox, SandboxEvent } from "../types.js";
import { type Caller, isOperator } from "./access.js";

/** Shown where a tenant's answer held a server path. */
export const SERVER_PATH = "(server path)";

/** Keys whose values are server details wherever they appear in a reachability, host facts or event data. */
const SERVER_KEYS = new Set([
  "workspace",
  "remote_dir",
  "log",
  "logs",
  "ssh",
  "shell",
  "sshConfig",
  "identityFile",
  "diskPath",
  "pid",
  "pidFile",
  "stateDir",
  "runDir",
  "path",
  "template",
]);

/** Paths that are the sandbox's own or the API's, not the server's. */
const keepPath = (p: string) => p === "/" || p === "/workspace" || p.startsWith("/workspace/") || p.startsWith("/v1/");

/** An absolute or `~` path token inside free text (not a URL's `//host/...`, not `a/b`). */
const PATH_TOKEN = /(?<![\w:/.~%-])(?:~(?=\/|\s|$)|\/)[^\s'"`,;:)\]}]*/g;

/** Free text with every server path replaced. */
export function redactText(text: string): string {
  // Most strings (states, reasons, names) hold neither: skip the pattern, which is most of a tenant read's cost.
  if (!text.includes("/") && !text.includes("~")) return text;
  return text.replace(PATH_TOKEN, (m) => (keepPath(m) ? m : SERVER_PATH));
}

const isPath = (s: string) => (s.startsWith("/") || s === "~" || s.startsWith("~/")) && !keepPath(s);

/** A JSON value with server keys dropped, whole-path strings dropped, paths in text redacted. */
export function scrubJson(value: Json): Json | undefined {
  if (typeof value === "string") return isPath(value) ? undefined : redactText(value);
  if (Array.isArray(value)) return value.map(scrubJson).filter((v): v is Json => v !== undefined);
  if (value && typeof value === "object") {
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(value)) {
      if (SERVER_KEYS.has(k)) continue;
      const s = scrubJson(v);
      if (s !== undefined) out[k] = s;
    }
    return out;
  }
  return value;
}

const scrubObject = (o: JsonObject | null): JsonObject | null => (o === null ? null : (scrubJson(o) as JsonObject));

/**
 * A reachability as a tenant sees it. `remote_dir` and where to log in
 * (`ssh_target` user, host, port, alias) stay when the directory is on an SSH
 * host: it is the sandbox's own directory on the machine the tenant is about to
 * log in to, not a path of this server, and a consumer such as wise-validator
 * cannot run its tests without it; whether it may log in is that host's sshd's
 * call. The ssh argv carries this server's ssh_config and key paths: removed.
 * On localhost (`ssh_target: null`) the directory is the server's: removed.
 */
function reachabilityFor(r: JsonObject | null): JsonObject | null {
  const scrubbed = scrubObject(r);
  const t = r?.ssh_target;
  if (!scrubbed || typeof r?.remote_dir !== "string" || !t || typeof t !== "object" || Array.isArray(t)) return scrubbed;
  const { host = null, user = null, port = null, alias = null } = t;
  return { ...scrubbed, remote_dir: r.remote_dir, ssh_target: { host, user, port, alias } };
}

/** Inputs as a tenant sees them: a path value on the server is shown as `(server path)`. */
export function inputsFor(caller: Caller | undefined, inputs: Record<string, string>): Record<string, string> {
  if (isOperator(caller)) return inputs;
  return Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, isPath(v) ? SERVER_PATH : v]));
}

export function recordFor(caller: Caller | undefined, sb: Sandbox): Sandbox {
  if (isOperator(caller)) return sb;
  return {
    ...sb,
    inputs: inputsFor(caller, sb.inputs),
    reachability: reachabilityFor(sb.reachability),
    hostFacts: scrubObject(sb.hostFacts),
    route: sb.route === null ? null : (scrubJson(sb.route as unknown as JsonObject) as unknown as Sandbox["route"]),
    error: sb.error === null ? null : { code: sb.error.code, message: redactText(sb.error.message) },
  };
}

export function eventFor(caller: Caller | undefined, e: SandboxEvent): SandboxEvent {
  if (isOperator(caller)) return e;
  const data = scrubJson(e.data) as JsonObject;
  const r = e.data.reachability;
  // sandbox.ready carries the reachability: the same view as the record's.
  if (r && typeof r === "object" && !Array.isArray(r)) data.reachability = reachabilityFor(r);
  return { ...e, data };
}

/** The archive path is the server's; tenants get the rest. */
export function snapshotFor(caller: Caller | undefined, s: Snapshot): Omit<Snapshot, "path"> & { path?: string } {
  if (isOperator(caller)) return s;
  const { path: _p, ...rest } = s;
  return { ...rest, inputs: inputsFor(caller, s.inputs) };
}

export function profileFor<P extends Pick<Profile, "file">>(caller: Caller | undefined, p: P): Omit<P, "file"> & { file?: string } {
  if (isOperator(caller)) return p;
  const { file: _f, ...rest } = p;
  return rest;
}

/** A registration as shown: for tenants without its file, nor its `module:` (a server path or package). */
export function registrationFor<R extends Pick<Registration, "file" | "module">>(
  caller: Caller | undefined,
  r: R,
): Omit<R, "file" | "module"> & { file?: string; module?: string } {
  if (isOperator(caller)) return r;
  const { file: _f, module: _m, ...rest } = r;
  return rest;
}

/** A plan as answered (`POST /v1/plan`): never the secret values the extension would get; for tenants no server paths. */
export function planViewFor(
  caller: Caller | undefined,
  plan: CreatePlan,
): Omit<CreatePlan, "recorded" | "profile" | "registration" | "host"> & Record<"profile" | "registration" | "host", unknown> {
  const { recorded, ...rest } = plan;
  if (isOperator(caller)) return { ...rest, inputs: recorded };
  const { ssh: _s, ...host } = plan.host;
  return {
    ...rest,
    profile: profileFor(caller, plan.profile),
    registration: registrationFor(caller, plan.registration),
    host,
    route: scrubJson(plan.route as unknown as JsonObject) as unknown as CreatePlan["route"],
    inputs: inputsFor(caller, recorded),
  };
}
