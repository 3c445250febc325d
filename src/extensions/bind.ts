/**
 * The broker's view of an extension: the definition, checked, with every
 * handle it gets back from a record parsed by the extension's own `handle`
 * schema first. A handle that does not parse is SBX_HANDLE_INVALID naming the
 * extension, the sandbox and the field, never a crash deep inside the
 * extension; teardown then falls back to finding resources by the sandbox id.
 */
import { SandboxerError } from "../errors.js";
import { hostKind, refusingTransport } from "../transport/for-host.js";
import type { Handle } from "../types.js";
import { checkDefinition } from "./check.js";
import type { Extension, ExtensionContext, ExtensionDefinition, FileOps, ListContext, ListWhere, ProcessOps } from "./define.js";

type Def = ExtensionDefinition<Record<string, unknown>, object>;
type Ctx = ExtensionContext<Handle>;

function issueOf(err: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }): { field: string; message: string } {
  const issue = err.issues[0];
  return { field: issue?.path.map(String).join(".") || "(handle)", message: issue?.message ?? "invalid" };
}

/** The stored JSON as the extension's typed handle, or SBX_HANDLE_INVALID. */
export function parseHandle(def: Pick<Def, "id" | "handle">, sandboxId: string, raw: unknown): object {
  const res = def.handle.safeParse(raw);
  if (res.success) return res.data;
  const { field, message } = issueOf(res.error);
  throw new SandboxerError(
    "SBX_HANDLE_INVALID",
    `${sandboxId}: its stored handle does not fit ${def.id}'s handle schema (${field}: ${message}); was it written by another version of ${def.id}?`,
    { details: { id: sandboxId, extension: def.id, field } },
  );
}

/** What the extension hands back, checked against its own schema and stored as plain JSON. */
function toJson(def: Def, h: object): Handle {
  const res = def.handle.safeParse(h);
  if (!res.success) {
    const { field, message } = issueOf(res.error);
    throw new SandboxerError("SBX_INTERNAL", `${def.id} made a handle its own handle schema refuses (${field}: ${message})`, {
      details: { extension: def.id, field },
    });
  }
  return JSON.parse(JSON.stringify(h)) as Handle;
}

/** The context the definition sees: typed checkpoints; no transport unless it declared a shell. */
function typed(def: Def, ctx: Ctx): ExtensionContext<object> {
  return {
    ...ctx,
    transport: def.placement.shell ? ctx.transport : refusingTransport(ctx.host, `${def.id} declares no shell on its placement hosts`),
    checkpoint: (h: object) => ctx.checkpoint(toJson(def, h)),
  };
}

function boundFiles(def: Def, files: FileOps<object>): FileOps {
  const h = (ctx: Ctx, raw: Handle) => parseHandle(def, ctx.sandbox.id, raw);
  return {
    putArchive: (ctx, raw, dest, tar) => files.putArchive(typed(def, ctx), h(ctx, raw), dest, tar),
    getArchive: (ctx, raw, path, out) => files.getArchive(typed(def, ctx), h(ctx, raw), path, out),
    writeFile: (ctx, raw, path, data, mode) => files.writeFile(typed(def, ctx), h(ctx, raw), path, data, mode),
    readFile: (ctx, raw, path, out, max) => files.readFile(typed(def, ctx), h(ctx, raw), path, out, max),
    list: (ctx, raw, path, limit) => files.list(typed(def, ctx), h(ctx, raw), path, limit),
    stat: (ctx, raw, path) => files.stat(typed(def, ctx), h(ctx, raw), path),
    remove: (ctx, raw, path, recursive) => files.remove(typed(def, ctx), h(ctx, raw), path, recursive),
  };
}

function boundProcesses(def: Def, p: ProcessOps<object>): ProcessOps {
  const h = (ctx: Ctx, raw: Handle) => parseHandle(def, ctx.sandbox.id, raw);
  return {
    start: (ctx, raw, pid, argv, opts) => p.start(typed(def, ctx), h(ctx, raw), pid, argv, opts),
    state: (ctx, raw, pids) => p.state(typed(def, ctx), h(ctx, raw), pids),
    output: (ctx, raw, pid, offset, max) => p.output(typed(def, ctx), h(ctx, raw), pid, offset, max),
    kill: (ctx, raw, pid, signal) => p.kill(typed(def, ctx), h(ctx, raw), pid, signal),
  };
}

/** The places a `list` without `where` covers for `ctx.host`: the host itself if the extension places there, and its remote place from this machine. */
export function placesFor(def: Pick<Def, "placement">, ctx: Pick<ListContext, "host">): ListWhere[] {
  const kind = hostKind(ctx.host);
  const out: ListWhere[] = [];
  if (def.placement.hosts.includes(kind)) out.push("host");
  if (def.placement.remote && kind === "localhost") out.push("remote");
  return out;
}

/** Check a definition (SBX_EXTENSION_INVALID) and wrap it for the broker. `where` names its module in errors. */
export function bindExtension(raw: unknown, where?: string): Extension {
  checkDefinition(raw, where);
  // Checked just above: every field the broker calls has the shape the contract gives it.
  const def = raw as Def;
  const h = (ctx: Ctx, rawHandle: Handle) => parseHandle(def, ctx.sandbox.id, rawHandle);
  const ext: Extension = {
    id: def.id,
    kind: def.kind,
    description: def.description,
    capabilities: def.capabilities,
    placement: def.placement,
    inputs: def.inputs,
    handle: def.handle as Extension["handle"],
    ...(def.offHost ? { offHost: true } : {}),
    ...(def.modes ? { modes: def.modes } : {}),
    ...(def.preflight ? { preflight: def.preflight.bind(def) } : {}),
    ...(def.settingsProblems ? { settingsProblems: def.settingsProblems.bind(def) } : {}),
    ...(def.hostFacts ? { hostFacts: def.hostFacts.bind(def) } : {}),
    provision: async (ctx, inputs) => toJson(def, await def.provision(typed(def, ctx), inputs)),
    waitReady: (ctx, rawHandle) => def.waitReady(typed(def, ctx), h(ctx, rawHandle)),
    async teardown(ctx, rawHandle) {
      let handle: object | null = null;
      if (rawHandle !== null) {
        try {
          handle = h(ctx, rawHandle);
        } catch (err) {
          // Everything an extension makes carries the sandbox id: tear down by that instead.
          ctx.progress(`${(err as Error).message}; tearing down by the sandbox id instead`);
        }
      }
      await def.teardown(typed(def, ctx), handle);
    },
  };
  const { alive, extendTtl, exec, snapshot, sandboxCommand, scratchDir, fileRoot, terminal } = def;
  if (alive) ext.alive = (ctx, r) => alive.call(def, typed(def, ctx), h(ctx, r));
  if (extendTtl) ext.extendTtl = (ctx, r, at) => extendTtl.call(def, typed(def, ctx), h(ctx, r), at);
  if (exec) ext.exec = (ctx, r, argv, io, opts) => exec.call(def, typed(def, ctx), h(ctx, r), argv, io, opts);
  if (snapshot) ext.snapshot = (ctx, r, dest) => snapshot.call(def, typed(def, ctx), h(ctx, r), dest);
  if (sandboxCommand) ext.sandboxCommand = (ctx, r, argv, opts) => sandboxCommand.call(def, typed(def, ctx), h(ctx, r), argv, opts);
  if (terminal) ext.terminal = (ctx, r, argv, size, onData) => terminal.call(def, typed(def, ctx), h(ctx, r), argv, size, onData);
  if (scratchDir) ext.scratchDir = (ctx, r) => scratchDir.call(def, typed(def, ctx), h(ctx, r));
  if (fileRoot) ext.fileRoot = (ctx, r) => fileRoot.call(def, typed(def, ctx), h(ctx, r));
  if (def.files) ext.files = boundFiles(def, def.files);
  if (def.processes) ext.processes = boundProcesses(def, def.processes);
  if (def.perRequest) {
    const { inputs, apply } = def.perRequest;
    ext.perRequest = { inputs, ...(apply ? { apply: (ctx, r, values) => apply.call(def.perRequest, typed(def, ctx), h(ctx, r), values) } : {}) };
  }
  if (def.list) {
    const list = def.list.bind(def);
    ext.list = async (ctx, where) => {
      if (where) return list(ctx, where);
      const found = [];
      for (const place of placesFor(def, ctx)) found.push(...(await list(ctx, place)));
      return found;
    };
  }
  return ext;
}
