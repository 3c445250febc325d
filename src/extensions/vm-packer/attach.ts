/**
 * Attach mode: an isolated workspace `<root>/<sandbox id>/` on a pre-built VM
 * reached by its SSH alias (often through a reverse tunnel on the ops bridge),
 * optionally filled with a repo by rsync. Teardown removes the workspace only,
 * never the VM, and only a directory that carries this sandbox's marker.
 */
import { existsSync, statSync } from "node:fs";
import { posix, resolve } from "node:path";
import type { Writable } from "node:stream";
import { expandHome, loadConfig } from "../../config.js";
import { SandboxerError, toSandboxerError } from "../../errors.js";
import { archiveDir, extractArchive } from "../../snapshots/archive.js";
import { shellJoin, shellQuote } from "../../transport/quote.js";
import { type SshTransport, sshTransport } from "../../transport/ssh.js";
import { resolveSshTarget } from "../../transport/ssh-target.js";
import { type JsonObject, jsonObject } from "../../types.js";
import type { AttachHandle } from "./handle.js";
import type { ExtensionContext } from "../define.js";
import { script } from "./host-shell.js";
import { chooseTunnelPort, loadPortRegistry, type PortRegistry, tunnelSnippet } from "./port-registry.js";

export const DEFAULT_WORKSPACE_ROOT = "/build";
export const MARKER = ".sandboxer-id";

export interface AttachInputs {
  vm?: string | undefined;
  vm_name?: string | undefined;
  tunnel_port?: string | undefined;
  repo?: string | undefined;
  workspace_dir?: string | undefined;
}

export type { AttachHandle } from "./handle.js";

type Ctx = Pick<ExtensionContext, "sandbox" | "profile" | "paths" | "env">;

const invalid = (field: string, why: string) => new SandboxerError("SBX_INPUT_INVALID", `input '${field}': ${why}`, { details: { field } });

/** Creates the workspace unless something is already there (exit 4): we only ever remove what we made. */
const MAKE_WORKSPACE = 'if [ -e "$1" ]; then exit 4; fi; mkdir -p -- "$1" && printf "%s\\n" "$2" > "$1/$3"';
/** Removes the workspace when it is ours: named by the id, or carrying our marker. Exit 4 = not ours. */
const REMOVE_WORKSPACE =
  '[ -e "$1" ] || exit 0; if [ "$(basename "$1")" = "$2" ] || [ "$(cat "$1/$3" 2>/dev/null)" = "$2" ]; then rm -rf -- "$1"; else exit 4; fi';
const WORKSPACE_PRESENT = '[ "$(cat "$1/$3" 2>/dev/null)" = "$2" ]';
const LIST_WORKSPACES = 'cd "$1" 2>/dev/null || exit 0; for d in sbx-*; do [ -f "$d/$2" ] && echo "$d"; done; exit 0';

/** Everything attach needs, derived from the record alone, so teardown works after a crash too. */
export function resolveAttach(
  ctx: Ctx,
  inputs: AttachInputs,
): { vm: string; port: number | null; root: string; workspace: string; registry: PortRegistry | null } {
  const vm = inputs.vm ?? inputs.vm_name;
  if (!vm) throw new SandboxerError("SBX_INPUT_MISSING", "input 'vm' is required in attach mode: the VM's ssh alias", { details: { field: "vm" } });
  const registry = loadPortRegistry(ctx.paths, ctx.env);
  const explicit = portOf(inputs.tunnel_port, "the input");
  const fromEnv = portOf(ctx.env.SANDBOXER_VM_TUNNEL_PORT || undefined, "SANDBOXER_VM_TUNNEL_PORT");
  // The global default yields to the VM's own slot; an explicit input is always checked.
  const hasSlot = registry?.slots.some((s) => s.vm === vm) ?? false;
  const { port, slot } = chooseTunnelPort(registry, vm, explicit ?? (hasSlot ? null : fromEnv));
  const settingsRoot = typeof ctx.profile.settings.workspaceRoot === "string" ? ctx.profile.settings.workspaceRoot : undefined;
  const hostRoot = loadConfig(ctx.paths, ctx.env).hosts.get(vm)?.workspaceRoot;
  const root = posix.normalize(slot?.workspaceRoot ?? hostRoot ?? settingsRoot ?? DEFAULT_WORKSPACE_ROOT).replace(/\/$/, "");
  let workspace = posix.join(root, ctx.sandbox.id);
  if (inputs.workspace_dir) {
    workspace = posix.normalize(posix.isAbsolute(inputs.workspace_dir) ? inputs.workspace_dir : posix.join(root, inputs.workspace_dir)).replace(/\/$/, "");
    if (!workspace.startsWith(`${root}/`)) throw invalid("workspace_dir", `${inputs.workspace_dir} is outside the VM's workspace root ${root}`);
  }
  return { vm, port, root, workspace, registry };
}

function portOf(raw: string | undefined, source: string): number | null {
  if (raw === undefined) return null;
  const n = /^\d{1,5}$/.test(raw) ? Number(raw) : 0;
  if (n < 1 || n > 65535) throw invalid("tunnel_port", `must be a port number 1-65535 (from ${source})`);
  return n;
}

/** A VM as an SSH host: its alias, and the tunnel port when one is known. */
const vmHost = (vm: string, port: number | null) => ({ name: vm, ssh: { host: vm, ...(port ? { port } : {}) }, labels: [] });

export function vmTransport(ctx: Pick<ExtensionContext, "env" | "paths">, vm: string, port: number | null): SshTransport {
  return sshTransport({ host: vmHost(vm, port), env: ctx.env, runDir: ctx.paths.run, persistSeconds: 30 });
}

/** Open VM connections in this process, shared by concurrent calls (refcounted). */
const open = new Map<string, { t: SshTransport; users: number }>();

/**
 * Run with a connection to the VM. The ssh master is closed when the last user
 * is done, unless `keep` (provision keeps it for waitReady, saving a handshake;
 * ControlPersist ends it anyway if nothing follows), so no master outlives a command.
 */
export async function withVm<T>(
  ctx: Pick<ExtensionContext, "env" | "paths">,
  vm: string,
  port: number | null,
  fn: (t: SshTransport) => Promise<T>,
  keep = false,
): Promise<T> {
  const key = `${ctx.paths.run}\0${ctx.env.SANDBOXER_SSH_CONFIG ?? ""}\0${vm}\0${port ?? ""}`;
  const entry = open.get(key) ?? { t: vmTransport(ctx, vm, port), users: 0 };
  open.set(key, entry);
  entry.users++;
  try {
    return await fn(entry.t);
  } catch (err) {
    const e = toSandboxerError(err);
    // ssh could not even resolve the alias: the input is wrong, not the network.
    if (e.code === "SBX_HOST_UNREACHABLE" && /Could not resolve hostname/.test(e.message)) {
      throw invalid("vm", `'${vm}' is not a host alias in ${ctx.env.SANDBOXER_SSH_CONFIG || "~/.ssh/config"} and does not resolve`);
    }
    throw e;
  } finally {
    entry.users--;
    if (entry.users === 0 && !keep) {
      open.delete(key);
      await entry.t.close();
    }
  }
}

export async function provisionAttach(ctx: ExtensionContext<AttachHandle>, inputs: AttachInputs): Promise<AttachHandle> {
  const id = ctx.sandbox.id;
  const { vm, port, root, workspace } = resolveAttach(ctx, inputs);
  let repo: string | null = null;
  // A restore's workspace is the snapshot's: it already holds what `repo` put there.
  if (inputs.repo && !ctx.restoreFrom) {
    repo = resolve(expandHome(inputs.repo, ctx.env));
    if (!existsSync(repo) || !statSync(repo).isDirectory()) throw invalid("repo", `${inputs.repo} is not a directory on this machine`);
  }
  const handle: AttachHandle = { mode: "attach", vm, port, root, workspace, copied: null };
  await withVm(
    ctx,
    vm,
    port,
    async (t) => {
      ctx.progress(`creating ${workspace} on ${vm}${port ? ` (port ${port})` : ""}`);
      const made = await t.run(script(MAKE_WORKSPACE, workspace, id, MARKER), { signal: ctx.signal });
      if (made.code === 4) throw invalid("workspace_dir", `${workspace} already exists on ${vm}; sand-boxer only removes what it created`);
      if (made.code !== 0)
        throw new SandboxerError("SBX_PROVISION_FAILED", `cannot create ${workspace} on ${vm}: ${made.stderr.trim() || `exit ${made.code}`}`);
      await ctx.checkpoint(handle);
      if (repo) {
        ctx.progress(`rsync ${inputs.repo} -> ${vm}:${workspace}`);
        const { method } = await t.copyTo(repo, workspace, { signal: ctx.signal });
        handle.copied = method;
        await ctx.checkpoint(handle);
      }
      if (ctx.restoreFrom) {
        ctx.progress(`restoring ${ctx.restoreFrom.id} into ${vm}:${workspace}`);
        await extractArchive(t, workspace, ctx.restoreFrom, ctx.signal);
        // The archive carries the source sandbox's marker: this workspace belongs to the new id.
        const mark = await t.run(script('printf "%s\\n" "$2" > "$1/$3"', workspace, id, MARKER), { signal: ctx.signal });
        if (mark.code !== 0) throw new SandboxerError("SBX_PROVISION_FAILED", `cannot mark ${workspace} on ${vm}: ${mark.stderr.trim()}`);
      }
    },
    true,
  );
  return handle;
}

/** Archive the attach workspace on the VM, streamed back over its SSH connection. */
export async function snapshotAttach(ctx: ExtensionContext, h: AttachHandle, dest: Writable): Promise<void> {
  await withVm(ctx, h.vm, h.port, (t) => archiveDir(t, h.workspace, dest, ctx.signal));
}

export async function attachReady(ctx: ExtensionContext, h: AttachHandle): Promise<JsonObject> {
  const present = await withVm(ctx, h.vm, h.port, (t) => t.run(script(WORKSPACE_PRESENT, h.workspace, ctx.sandbox.id, MARKER)));
  if (present.code !== 0) throw new SandboxerError("SBX_PROVISION_FAILED", `workspace ${h.workspace} is not present on ${h.vm}`);
  const sshBase = ["ssh", ...(ctx.env.SANDBOXER_SSH_CONFIG ? ["-F", ctx.env.SANDBOXER_SSH_CONFIG] : []), ...(h.port ? ["-p", String(h.port)] : []), h.vm];
  const registry = loadPortRegistry(ctx.paths, ctx.env);
  // rsync reaches the VM exactly as the ssh line does (same config file and port).
  const rsyncSsh = sshBase.length > 2 ? ["-e", shellJoin(sshBase.slice(0, -1))] : [];
  const reach: JsonObject = {
    kind: "vm-workspace",
    vm: h.vm,
    // Without a tunnel port the VM is reached on its ssh_config's port: no `port` at all rather than null.
    ...(h.port ? { port: h.port } : {}),
    workspace: h.workspace,
    exec: `sandboxer exec ${ctx.sandbox.id} -- CMD...`,
    // Quoted twice on purpose: once for the remote shell (cd DIR), once for the local one.
    ssh: `${shellJoin(sshBase)} ${shellQuote(`cd ${shellQuote(h.workspace)} && ...`)}`,
    shell: `${shellJoin([...sshBase.slice(0, -1), "-t", h.vm])} ${shellQuote(`cd ${shellQuote(h.workspace)} && exec $SHELL -l`)}`,
    rsync: shellJoin(["rsync", "-a", ...rsyncSsh, "./", `${h.vm}:${h.workspace}/`]),
    note: "destroy removes this workspace only, never the VM",
    // For consumers that ssh in themselves (docs/integrations/wise-validator.md).
    remote_dir: h.workspace,
    ssh_target: jsonObject(await resolveSshTarget(vmHost(h.vm, h.port), ctx.env, ctx.signal)),
  };
  if (h.port) reach.tunnel = tunnelSnippet(registry, h.vm, h.port);
  return reach;
}

export async function attachAlive(ctx: ExtensionContext, h: AttachHandle): Promise<boolean> {
  const res = await withVm(ctx, h.vm, h.port, (t) => t.run(script(WORKSPACE_PRESENT, h.workspace, ctx.sandbox.id, MARKER)));
  return res.code === 0;
}

export async function teardownAttach(ctx: ExtensionContext, handle: AttachHandle | null): Promise<void> {
  const h = handle ?? { mode: "attach", ...resolveAttach(ctx, ctx.sandbox.inputs), copied: null };
  let res: Awaited<ReturnType<SshTransport["run"]>>;
  try {
    res = await withVm(ctx, h.vm, h.port, (t) => t.run(script(REMOVE_WORKSPACE, h.workspace, ctx.sandbox.id, MARKER)));
  } catch (err) {
    // No handle and an alias that does not even resolve: provision never reached the VM, so nothing is there.
    if (handle === null && toSandboxerError(err).details?.field === "vm") return;
    throw err;
  }
  if (res.code === 4) {
    // Not ours (a crash before the marker, or someone else's dir): leave it, and say so.
    ctx.progress(`left ${h.workspace} on ${h.vm}: it does not carry ${ctx.sandbox.id}'s marker`);
    return;
  }
  if (res.code !== 0) throw new SandboxerError("SBX_TEARDOWN_FAILED", `cannot remove ${h.workspace} on ${h.vm}: ${res.stderr.trim() || `exit ${res.code}`}`);
}

/**
 * Workspaces on the VMs named in the port registry (VMs not in it are not
 * scanned). An unreachable VM fails the listing after the others were tried
 * (SBX_HOST_UNREACHABLE naming it): a workspace not seen is never called gone.
 */
export async function listAttach(
  ctx: Pick<ExtensionContext, "env" | "paths">,
): Promise<{ sandboxId: string; vm: string; ref: string; root: string; port: number | null }[]> {
  const reg = loadPortRegistry(ctx.paths, ctx.env);
  const out: { sandboxId: string; vm: string; ref: string; root: string; port: number | null }[] = [];
  const down: string[] = [];
  for (const s of reg?.slots ?? []) {
    const root = s.workspaceRoot ?? DEFAULT_WORKSPACE_ROOT;
    try {
      const res = await withVm(ctx, s.vm, s.port, (t) => t.run(script(LIST_WORKSPACES, root, MARKER)));
      for (const name of res.stdout.split("\n").filter(Boolean))
        out.push({ sandboxId: name, vm: s.vm, ref: `${s.vm}:${posix.join(root, name)}`, root, port: s.port });
    } catch (err) {
      down.push(`${s.vm}: ${toSandboxerError(err).message}`);
    }
  }
  if (down.length) throw new SandboxerError("SBX_HOST_UNREACHABLE", `VMs of the port registry not listed: ${down.join("; ")}`);
  return out;
}

/** An orphan with no record: its workspace, on whichever registry VM carries the id's marker. */
export async function teardownAttachById(ctx: ExtensionContext): Promise<void> {
  const reg = loadPortRegistry(ctx.paths, ctx.env);
  for (const s of reg?.slots ?? []) {
    const root = s.workspaceRoot ?? DEFAULT_WORKSPACE_ROOT;
    const workspace = posix.join(root, ctx.sandbox.id);
    await teardownAttach(ctx, { mode: "attach", vm: s.vm, port: s.port, root, workspace, copied: null });
  }
}
