/**
 * Declared = implemented: what an extension's `capabilities`, `placement` and
 * `perRequest` say is checked against the methods it has, when it is defined
 * and again when the broker loads it (an operator's module may have been built
 * against another copy of this package). Pure: no I/O.
 */
import { SandboxerError } from "../errors.js";

const CAPABILITIES = [
  "snapshot",
  "restore",
  "build",
  "exec",
  "execService",
  "gpu",
  "limits",
  "files",
  "processes",
  "pty",
  "execTimeout",
  "execCancel",
  "execStdin",
] as const;
const REQUIRED_CAPABILITIES = new Set(["snapshot", "restore", "build", "exec"]);
const HOST_KINDS = new Set(["localhost", "ssh", "cluster"]);
const FILE_OPS = ["putArchive", "getArchive", "writeFile", "readFile", "list", "stat", "remove"] as const;
const PROCESS_OPS = ["start", "state", "output", "kill"] as const;
const OPTIONAL_METHODS = [
  "preflight",
  "settingsProblems",
  "alive",
  "extendTtl",
  "exec",
  "list",
  "hostFacts",
  "sandboxCommand",
  "scratchDir",
  "fileRoot",
  "snapshot",
] as const;
const ID_RE = /^ext\.[a-z0-9-]+$/;
const MODE_RE = /^[a-z][a-z0-9-]*$/;

type Loose = Record<string, unknown>;

const isObject = (v: unknown): v is Loose => typeof v === "object" && v !== null && !Array.isArray(v);
const isFn = (v: unknown) => typeof v === "function";
const isSchema = (v: unknown) => isObject(v) && isFn(v.safeParse) && isFn(v.parse);

/** Every way the definition contradicts itself, as `field: why` lines (empty when it is consistent). */
export function definitionProblems(def: unknown): string[] {
  if (!isObject(def)) return ["the module's default export is not an object (export default defineExtension({...}))"];
  const out: string[] = [];
  if (typeof def.id !== "string" || !ID_RE.test(def.id)) out.push(`id: '${String(def.id)}' is not an extension id (ext.<name>, lowercase)`);
  if (def.kind !== "self-hosted" && def.kind !== "metered") out.push(`kind: '${String(def.kind)}' is neither self-hosted nor metered`);
  if (typeof def.description !== "string") out.push("description: missing");
  for (const key of ["inputs", "handle"] as const) if (!isSchema(def[key])) out.push(`${key}: not a zod schema`);
  for (const key of ["provision", "waitReady", "teardown"] as const) if (!isFn(def[key])) out.push(`${key}: required method missing`);
  for (const key of OPTIONAL_METHODS) if (def[key] !== undefined && !isFn(def[key])) out.push(`${key}: not a function`);
  if (def.offHost !== undefined && typeof def.offHost !== "boolean") out.push("offHost: true or false");
  if ("restore" in def) out.push("restore: not a method; declare capabilities.restore and fill the workspace from ctx.restoreFrom in provision");
  out.push(...capabilityProblems(def), ...placementProblems(def), ...perRequestProblems(def));
  return out;
}

function capabilityProblems(def: Loose): string[] {
  const caps = def.capabilities;
  if (!isObject(caps)) return ["capabilities: missing"];
  const out: string[] = [];
  for (const key of Object.keys(caps)) {
    if (!(CAPABILITIES as readonly string[]).includes(key)) out.push(`capabilities.${key}: not a capability (known: ${CAPABILITIES.join(", ")})`);
    else if (typeof caps[key] !== "boolean" && caps[key] !== undefined) out.push(`capabilities.${key}: not true or false`);
  }
  for (const key of REQUIRED_CAPABILITIES) if (typeof caps[key] !== "boolean") out.push(`capabilities.${key}: required (true or false)`);
  const has = (m: string) => isFn(def[m]);
  const both = (cap: string, method: string) => {
    if (caps[cap] === true && !has(method)) out.push(`capabilities.${cap} is true but it has no ${method} method`);
    if (caps[cap] !== true && has(method)) out.push(`capabilities.${cap} is not declared but it implements ${method}`);
  };
  both("exec", "exec");
  both("snapshot", "snapshot");
  if (caps.restore === true && caps.snapshot !== true) out.push("capabilities.restore needs capabilities.snapshot (restores come from its own snapshots)");
  const modes = Array.isArray(def.modes) ? (def.modes as unknown[]) : [];
  if (def.modes !== undefined && (!Array.isArray(def.modes) || !modes.every((m) => typeof m === "string" && MODE_RE.test(m))))
    out.push("modes: a list of lowercase mode names");
  if (caps.build === true && !modes.includes("build")) out.push("capabilities.build is true but 'build' is not one of its modes");
  if (caps.build !== true && modes.includes("build")) out.push("capabilities.build is not declared but 'build' is one of its modes");
  if (caps.execService === true && caps.exec !== true) out.push("capabilities.execService needs capabilities.exec");
  const files = def.files;
  if (files !== undefined) {
    if (!isObject(files)) out.push("files: not an object of file methods");
    else for (const op of FILE_OPS) if (!isFn(files[op])) out.push(`files.${op}: missing (the files methods come as a set)`);
  }
  if (caps.files === true && files === undefined && !has("sandboxCommand"))
    out.push("capabilities.files is true but it has neither files methods nor a sandboxCommand method");
  if (caps.files !== true && files !== undefined) out.push("capabilities.files is not declared but it has files methods");
  const procs = def.processes;
  if (procs !== undefined) {
    if (!isObject(procs)) out.push("processes: not an object of process methods");
    else for (const op of PROCESS_OPS) if (!isFn(procs[op])) out.push(`processes.${op}: missing (the processes methods come as a set)`);
  }
  if (caps.processes === true && procs === undefined && !has("sandboxCommand"))
    out.push("capabilities.processes is true but it has neither processes methods nor a sandboxCommand method");
  if (caps.processes !== true && procs !== undefined) out.push("capabilities.processes is not declared but it has processes methods");
  if (caps.pty === true && !has("sandboxCommand") && !has("exec"))
    out.push("capabilities.pty is true but it has neither a sandboxCommand method nor an exec method");
  if (has("terminal") && caps.pty !== true) out.push("capabilities.pty is not declared but it has a terminal method");
  if (caps.execTimeout === true && caps.exec !== true) out.push("capabilities.execTimeout needs capabilities.exec");
  if (caps.execCancel === true && caps.exec !== true) out.push("capabilities.execCancel needs capabilities.exec");
  if (caps.execStdin === true && caps.exec !== true) out.push("capabilities.execStdin needs capabilities.exec");
  if (caps.limits === true && def.kind !== "self-hosted") out.push("capabilities.limits applies to self-hosted extensions only");
  return out;
}

function placementProblems(def: Loose): string[] {
  const p = def.placement;
  if (!isObject(p)) return ["placement: missing ({ hosts: [...], shell: true|false })"];
  const out: string[] = [];
  const hosts = Array.isArray(p.hosts) ? (p.hosts as unknown[]) : null;
  if (!hosts?.every((h) => typeof h === "string" && HOST_KINDS.has(h))) out.push(`placement.hosts: a list of ${[...HOST_KINDS].join(", ")}`);
  if (typeof p.shell !== "boolean") out.push("placement.shell: required (true or false)");
  if (p.remote !== undefined && (typeof p.remote !== "string" || !p.remote)) out.push("placement.remote: a description of where, or absent");
  if (p.shell === true && hosts?.length === 0) out.push("placement.shell is true but it places on no hosts");
  if (isFn(def.list) && hosts?.length === 0 && p.remote === undefined) out.push("list: never asked (placement names no hosts and no remote place)");
  return out;
}

function perRequestProblems(def: Loose): string[] {
  const pr = def.perRequest;
  if (pr === undefined) return [];
  if (!isObject(pr) || !Array.isArray(pr.inputs)) return ["perRequest: { inputs: [...], apply? }"];
  const out: string[] = [];
  if (pr.apply !== undefined && !isFn(pr.apply)) out.push("perRequest.apply: not a function");
  const inputs = def.inputs as { shape?: unknown } | undefined;
  const shape = isObject(inputs) && isObject(inputs.shape) ? inputs.shape : null;
  for (const name of pr.inputs as unknown[]) {
    if (typeof name !== "string") out.push("perRequest.inputs: names of inputs");
    else if (shape && !(name in shape)) out.push(`perRequest.inputs: '${name}' is not one of its inputs`);
  }
  return out;
}

/** Throws SBX_EXTENSION_INVALID naming the extension and every inconsistency. */
export function checkDefinition(def: unknown, where?: string): void {
  const problems = definitionProblems(def);
  if (!problems.length) return;
  const id = isObject(def) && typeof def.id === "string" ? def.id : "(no id)";
  throw new SandboxerError("SBX_EXTENSION_INVALID", `extension ${id}${where ? ` (${where})` : ""}: ${problems.join("; ")}`, {
    details: { extension: id, problems },
  });
}
