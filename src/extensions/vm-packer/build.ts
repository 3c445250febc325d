/**
 * Build mode: run a Packer build on the placement host and turn its
 * machine-readable stream into progress. Ready = the build succeeded; the
 * artifacts go on the record. Teardown stops a running build and removes our
 * bookkeeping, never the image Packer made (it outlives the record by design).
 */
import { appendFileSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join, posix, resolve } from "node:path";
import { expandHome } from "../../config.js";
import { SandboxerError } from "../../errors.js";
import { type JsonObject, jsonObject } from "../../types.js";
import type { BuildHandle } from "./handle.js";
import type { ExtensionContext } from "../define.js";
import { GROUP_ALIVE, markerOf, RUN_IN_GROUP, stopGroup } from "./build-group.js";
import { missingCommand, PROBE_TEMPLATE, script } from "./host-shell.js";
import { initPlugins } from "./packer-init.js";
import { PackerStream } from "./packer-stream.js";
import { PACKER_VAR_PREFIX, varFileText } from "./var-file.js";
import { packerVarValues, secretMask } from "./redact.js";

/** SIGINT grace before SIGKILL: Packer cleans up (temp VMs, disks) on interrupt. */
const CANCEL_GRACE_MS = 60_000;
/** Chatty provisioner output is rate-limited in events (all of it is in the build log): a burst, then this many per second. */
const MESSAGE_BURST = 20;
const MESSAGES_PER_SECOND = 5;

export interface BuildInputs {
  packer_template?: string | undefined;
  vm_name?: string | undefined;
  vm?: string | undefined;
  packer_var_file?: string | undefined;
  [k: string]: unknown;
}

export type { BuildHandle } from "./handle.js";

function packerCmd(ctx: ExtensionContext): string {
  const s = ctx.profile.settings.packer;
  return ctx.env.SANDBOXER_PACKER || (typeof s === "string" && s) || "packer";
}

/** Where builds keep their state on the placement host: one directory per sandbox id under it. */
export function stateRootFor(ctx: Pick<ExtensionContext, "host" | "paths">): string {
  if (ctx.host.name === "localhost") return join(ctx.paths.run, "vm-packer");
  return posix.join(ctx.host.workspaceRoot ?? "/tmp/sandboxer", ".vm-packer");
}

function stateDirFor(ctx: Pick<ExtensionContext, "host" | "paths">, id: string): string {
  return posix.join(stateRootFor(ctx), id);
}

export function buildLogPath(ctx: Pick<ExtensionContext, "paths">, id: string): string {
  return join(ctx.paths.home, "logs", "vm-packer", `${id}.log`);
}

/** Template path as the placement host sees it: local paths resolved here, remote `~/` relative to the login dir. */
function hostPath(ctx: ExtensionContext, p: string): string {
  if (ctx.host.name === "localhost") return resolve(expandHome(p, ctx.env));
  return p.startsWith("~/") ? p.slice(2) : p;
}

const invalid = (field: string, why: string) => new SandboxerError("SBX_INPUT_INVALID", `input '${field}': ${why}`, { details: { field } });

/**
 * Packer's variable arguments: `-var vm_name=...` (a checked name), then the
 * generated var file holding every packer_var_<name> (values never in argv),
 * then the caller's own var file, last so it is explicit.
 */
export function packerVarArgs(vmName: string | null, generated: string | null, varFile: string | null): string[] {
  const args: string[] = [];
  if (vmName) args.push("-var", `vm_name=${vmName}`);
  if (generated) args.push(`-var-file=${generated}`);
  if (varFile) args.push(`-var-file=${varFile}`);
  return args;
}

/** Writes stdin to $1 readable by its owner only (the directory is ours, made just before). */
const WRITE_PRIVATE = 'umask 077; rm -f -- "$1" && cat > "$1"';

/** The var file with the packer_var_* values, mode 0600 in the build's state dir; null when there are none. */
async function writeVarFile(ctx: ExtensionContext, stateDir: string, inputs: BuildInputs): Promise<string | null> {
  const text = varFileText(inputs);
  if (text === null) return null;
  const file = posix.join(stateDir, "vars.pkrvars.hcl");
  const res = await ctx.transport.run(script(WRITE_PRIVATE, file), { input: text });
  if (res.code !== 0)
    throw new SandboxerError("SBX_PROVISION_FAILED", `cannot write the packer var file in ${stateDir} on ${ctx.host.name}: ${res.stderr.trim()}`);
  return file;
}

/** A packer_var_* the template does not declare: Packer only warns for var files, we refuse as it does for -var. */
function undeclaredVar(lines: string[], inputs: BuildInputs): SandboxerError | null {
  for (const line of lines) {
    const m = /A "([^"]+)" variable was set but was not found/.exec(line);
    const field = m ? `${PACKER_VAR_PREFIX}${m[1]}` : "";
    if (m && field in inputs) return invalid(field, `the template declares no variable "${m[1]}"`);
  }
  return null;
}

async function probeTemplate(ctx: ExtensionContext, template: string): Promise<{ target: string; workdir: string; files: string[] }> {
  const res = await ctx.transport.run(script(PROBE_TEMPLATE, template));
  const [kind, ...files] = res.stdout.trim().split("\n").filter(Boolean);
  if (kind === "missing" || !kind) throw invalid("packer_template", `${template} does not exist on host ${ctx.host.name}`);
  if (kind === "file") {
    if (!/\.pkr\.(hcl|json)$/.test(template)) throw invalid("packer_template", `${template} is not a Packer HCL2 template (*.pkr.hcl or *.pkr.json)`);
    return { target: template, workdir: dirname(template), files: [template] };
  }
  if (!files.length) throw invalid("packer_template", `directory ${template} holds no *.pkr.hcl or *.pkr.json template`);
  return { target: ".", workdir: template, files };
}

/** Map a failed `packer validate` to the input at fault when the message names one. */
function validateError(stream: PackerStream, inputs: BuildInputs): SandboxerError {
  const text = stream.errors.join("\n");
  const undeclared = /A "([^"]+)" variable was passed in the command line but was not found/.exec(text);
  if (undeclared) {
    const name = undeclared[1] as string;
    const field = name === "vm_name" && !(`${PACKER_VAR_PREFIX}vm_name` in inputs) ? "vm_name" : `${PACKER_VAR_PREFIX}${name}`;
    return invalid(field, `the template declares no variable "${name}" (packer: -var of an undeclared variable is an error)`);
  }
  if (/Could not guess format of|var file/i.test(text) && inputs.packer_var_file) return invalid("packer_var_file", stream.summary());
  return invalid("packer_template", `packer validate failed: ${stream.summary()}`);
}

export async function provisionBuild(ctx: ExtensionContext<BuildHandle>, inputs: BuildInputs): Promise<BuildHandle> {
  const id = ctx.sandbox.id;
  if (!inputs.packer_template)
    throw new SandboxerError("SBX_INPUT_MISSING", "input 'packer_template' is required in build mode", { details: { field: "packer_template" } });
  const packer = packerCmd(ctx);
  const template = hostPath(ctx, inputs.packer_template);
  const vmName = inputs.vm_name ?? inputs.vm ?? null;
  const varFile = inputs.packer_var_file ? hostPath(ctx, inputs.packer_var_file) : null;
  const { target, workdir, files } = await probeTemplate(ctx, template);

  const stateDir = stateDirFor(ctx, id);
  const log = buildLogPath(ctx, id);
  mkdirSync(dirname(log), { recursive: true });
  const handle: BuildHandle = { mode: "build", stateDir, pidFile: posix.join(stateDir, "packer.pgid"), log, template, workdir, vmName, artifacts: [] };
  const mk = await ctx.transport.run(["mkdir", "-p", "-m", "0700", stateDir]);
  if (mk.code !== 0) throw new SandboxerError("SBX_PROVISION_FAILED", `cannot create ${stateDir} on ${ctx.host.name}: ${mk.stderr.trim()}`);
  await ctx.checkpoint(handle);
  const generated = await writeVarFile(ctx, stateDir, inputs);
  try {
    return await runBuild(ctx, inputs, handle, packer, target, workdir, files, packerVarArgs(vmName, generated, varFile));
  } finally {
    // The values are needed only while Packer runs; teardown removes the state dir too.
    if (generated) await ctx.transport.run(["rm", "-f", "--", generated]).catch(() => undefined);
  }
}

async function runBuild(
  ctx: ExtensionContext<BuildHandle>,
  inputs: BuildInputs,
  handle: BuildHandle,
  packer: string,
  target: string,
  workdir: string,
  files: string[],
  vars: string[],
): Promise<BuildHandle> {
  const { stateDir, log, vmName } = handle;
  const id = ctx.sandbox.id;

  // Packer leaves packer-log*/packer-shell* temp files when interrupted: keep them in the state dir teardown removes.
  // The marker lets teardown tell this build's processes from a recycled process group (./build-group.ts).
  const tmpEnv = ["env", `TMPDIR=${stateDir}`, markerOf(id)];
  // required_plugins: `packer init` first, or a clear refusal when this Packer cannot (before anything is built).
  await initPlugins(ctx, {
    packer,
    template: inputs.packer_template as string,
    files,
    target,
    workdir,
    env: tmpEnv,
    onLine: (line) => appendFileSync(log, `${line}\n`),
  });
  ctx.progress(`packer validate ${inputs.packer_template}`);
  const checked = new PackerStream();
  const validateLines: string[] = [];
  const mask = secretMask(packerVarValues(inputs));
  const val = await runPacker(
    ctx,
    [...tmpEnv, packer, "validate", "-machine-readable", ...vars, target],
    workdir,
    (line) => {
      checked.push(line);
      validateLines.push(line);
      appendFileSync(log, `${line}\n`);
    },
    mask,
  );
  if (val.code !== 0) throw missingCommand(val) ? packerMissing(ctx, packer) : validateError(checked, inputs);
  const undeclared = undeclaredVar(validateLines, inputs);
  if (undeclared) throw undeclared;

  if (ctx.signal.aborted) throw new SandboxerError("SBX_CANCELLED", "cancelled before packer build started");
  ctx.progress(`packer build ${inputs.packer_template}${vmName ? ` (vm_name=${vmName})` : ""}`);
  const stream = new PackerStream();
  let tokens = MESSAGE_BURST;
  let refilled = Date.now();
  const onLine = (line: string) => {
    appendFileSync(log, `${line}\n`);
    const note = stream.push(line);
    if (!note) return;
    if (note.level === "message") {
      const now = Date.now();
      tokens = Math.min(MESSAGE_BURST, tokens + ((now - refilled) / 1000) * MESSAGES_PER_SECOND);
      refilled = now;
      if (tokens < 1) return;
      tokens -= 1;
    }
    ctx.progress(note.message.split("\n")[0]?.slice(0, 300) ?? note.message);
  };
  // Cancel (Ctrl-C, destroy, timeout): SIGINT the build's process group and let Packer clean up.
  const onAbort = () => {
    ctx.progress("cancelling packer build (SIGINT)");
    stopGroup(ctx.transport, handle.pidFile, markerOf(id), CANCEL_GRACE_MS).catch(() => undefined);
  };
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  let res: Awaited<ReturnType<typeof runPacker>>;
  try {
    res = await runPacker(
      ctx,
      ["setsid", "-w", ...script(RUN_IN_GROUP, handle.pidFile, workdir, ...tmpEnv, packer, "build", "-machine-readable", ...vars, target)],
      undefined,
      onLine,
      mask,
    );
  } finally {
    ctx.signal.removeEventListener("abort", onAbort);
  }
  if (res.code !== 0) {
    if (stream.cancelled || ctx.signal.aborted) throw new SandboxerError("SBX_CANCELLED", "packer build cancelled; packer cleaned up after SIGINT");
    if (missingCommand(res) && !stream.errors.length) throw packerMissing(ctx, packer);
    if (res.code === 255 && ctx.host.name !== "localhost" && !stream.errors.length) {
      const why = res.stderr.trim().split("\n").slice(-2).join("; ") || "connection closed";
      throw new SandboxerError("SBX_HOST_UNREACHABLE", `SSH connection to ${ctx.host.name} dropped during the packer build: ${why}`);
    }
    throw new SandboxerError("SBX_PROVISION_FAILED", `packer build failed (exit ${res.code}): ${stream.summary()}`, { details: { errors: stream.errors } });
  }
  // Packer reports files relative to where it ran; the record says where they are.
  handle.artifacts = stream.artifacts.map((a) => ({ ...a, files: a.files.map((f) => (posix.isAbsolute(f) ? f : posix.join(workdir, f))) }));
  await ctx.checkpoint(handle);
  ctx.progress(`packer build finished: ${stream.artifacts.length} artifact(s)`);
  return handle;
}

function packerMissing(ctx: ExtensionContext, packer: string): SandboxerError {
  return new SandboxerError("SBX_DEPENDENCY_MISSING", `${packer} is not installed on host ${ctx.host.name} (apt-get install packer, or set SANDBOXER_PACKER)`);
}

/** Packer's output reaches the log, progress and errors only through `mask` (packer_var_* values hidden, ./redact.ts). */
async function runPacker(ctx: ExtensionContext, argv: string[], cwd: string | undefined, onLine: (line: string) => void, mask: (line: string) => string) {
  try {
    const res = await ctx.transport.run(argv, {
      ...(cwd ? { cwd } : {}),
      onLine: (raw, stream) => {
        const line = mask(raw);
        if (stream === "stdout") onLine(line);
        else appendFileSync(buildLogPath(ctx, ctx.sandbox.id), `[stderr] ${line}\n`);
      },
    });
    return { ...res, stdout: mask(res.stdout), stderr: mask(res.stderr) };
  } catch (err) {
    if (err instanceof SandboxerError && err.code === "SBX_DEPENDENCY_MISSING" && argv[0] === packerCmd(ctx)) throw packerMissing(ctx, argv[0]);
    throw err;
  }
}

export function buildReachability(ctx: ExtensionContext, h: BuildHandle): JsonObject {
  return {
    kind: "packer-build",
    host: ctx.host.name,
    template: h.template,
    vmName: h.vmName,
    artifacts: h.artifacts.map(jsonObject),
    log: h.log,
    note: "destroy forgets this record only; the built image and artifacts stay",
  };
}

export async function buildAlive(ctx: ExtensionContext, h: BuildHandle): Promise<boolean> {
  // A finished build stays "alive" (its image exists regardless); an interrupted one is not.
  if (h.artifacts?.length) return true;
  return (await ctx.transport.run(script(GROUP_ALIVE, h.pidFile, markerOf(ctx.sandbox.id)))).code === 0;
}

export async function teardownBuild(ctx: ExtensionContext, h: BuildHandle | null): Promise<void> {
  const stateDir = h?.stateDir ?? stateDirFor(ctx, ctx.sandbox.id);
  const stopped = await stopGroup(ctx.transport, posix.join(stateDir, "packer.pgid"), markerOf(ctx.sandbox.id), CANCEL_GRACE_MS);
  if (stopped === "not-ours") ctx.progress("the saved process group id now belongs to other processes (pid reused): not signalled");
  const rm = await ctx.transport.run(["rm", "-rf", "--", stateDir]);
  if (rm.code !== 0) throw new SandboxerError("SBX_TEARDOWN_FAILED", `cannot remove ${stateDir} on ${ctx.host.name}: ${rm.stderr.trim()}`);
  if (ctx.host.name === "localhost") rmSync(stateDir, { recursive: true, force: true });
}
