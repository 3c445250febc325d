import { posix } from "node:path";
import { z } from "zod";
import { SANDBOX_ID_RE } from "../../ids.js";
import { type BackendResource, defineExtension, type ExtensionContext } from "../define.js";
import { SandboxerError } from "../../errors.js";
import { attachAlive, attachReady, listAttach, provisionAttach, snapshotAttach, teardownAttach, teardownAttachById } from "./attach.js";
import { buildAlive, buildReachability, provisionBuild, stateRootFor, teardownBuild } from "./build.js";
import { type AttachHandle, type VmPackerHandle, vmPackerHandle } from "./handle.js";
import { attachCommand, execAttach, scratchOf } from "./exec.js";
import { preflightAttach, preflightBuild } from "./preflight.js";
import { hclValue, packerVars } from "./var-file.js";

export const MODES = ["attach", "build"] as const;
type Mode = (typeof MODES)[number];

/**
 * Inputs of both modes. The object is loose so the `packer_var_<name>` family
 * (declared in profiles with `prefix: true`) reaches the extension; the
 * `packer_var_` key itself only tells the catalog that the family is accepted.
 */
const inputs = z
  .looseObject({
    mode: z.enum(MODES).optional(),
    vm: z.string().optional(),
    tunnel_port: z
      .string()
      .regex(/^\d{1,5}$/, "a port number")
      .optional(),
    repo: z.string().optional(),
    workspace_dir: z.string().optional(),
    packer_template: z.string().optional(),
    vm_name: z.string().optional(),
    packer_var_file: z.string().optional(),
    packer_var_: z.string().optional(),
  })
  .superRefine((v, issue) => {
    if (v.mode === "build" && !v.packer_template)
      issue.addIssue({ code: "custom", path: ["packer_template"], message: "required in build mode: a directory of *.pkr.hcl or a template file" });
    if (v.mode === "attach" && !v.vm && !v.vm_name) issue.addIssue({ code: "custom", path: ["vm"], message: "required in attach mode: the VM's ssh alias" });
  });

type Inputs = z.infer<typeof inputs>;

/** Files, processes and exec need a workspace: attach mode's. */
function workspaceOf(handle: VmPackerHandle): AttachHandle {
  if (handle.mode === "build") {
    throw new SandboxerError(
      "SBX_UNSUPPORTED",
      "a Packer build has no sandbox to run commands in or move files to (its image is the result); these work on attach workspaces (--input mode=attach)",
    );
  }
  return handle;
}

function modeOf(ctx: Pick<ExtensionContext, "sandbox">): Mode {
  const m = ctx.sandbox.mode ?? ctx.sandbox.inputs?.mode;
  return m === "build" ? "build" : "attach";
}

/** Build state directories (`sbx-*`) under `dir` on the host, one name a line. */
const LIST_STATE_DIRS = 'cd "$1" 2>/dev/null || exit 0; for d in sbx-*; do [ -d "$d" ] && echo "$d"; done; exit 0';

export default defineExtension({
  id: "ext.vm-packer",
  kind: "self-hosted",
  description: "attach: a workspace /build/<id>/ on a pre-built VM over SSH (repo rsync'd in); build: a Packer build with progress and artifacts",
  // Snapshot, restore and exec apply to attach workspaces; a build has no workspace to capture or run in.
  capabilities: { snapshot: true, restore: true, build: true, exec: true, files: true, processes: true, pty: true },
  // A workspace lives on the VM and an image is made by Packer's builder: the placement host only runs the bookkeeping.
  offHost: true,
  modes: MODES,
  // Builds run on the placement host (this machine or an SSH host); attach workspaces live on VMs reached by their own alias.
  placement: { hosts: ["localhost", "ssh"], shell: true, remote: "workspaces on the VMs of the port registry" },
  inputs,
  handle: vmPackerHandle,

  async preflight(input, env, plan) {
    // A value that starts like an HCL list, map or quoted string must be one (refused before any record).
    for (const [key] of packerVars(input)) hclValue(key, input[key] as string);
    const mode = input.mode ?? plan.mode;
    if (mode === "build") preflightBuild(input, env, plan);
    else await preflightAttach(input, env, plan);
  },

  provision(ctx, input: Inputs) {
    if (modeOf(ctx) === "build" && ctx.restoreFrom)
      throw new SandboxerError("SBX_UNSUPPORTED", "build mode has no workspace to restore into; restore into attach mode (--input mode=attach)");
    return modeOf(ctx) === "build" ? provisionBuild(ctx, input) : provisionAttach(ctx, input);
  },

  async snapshot(ctx, handle, dest) {
    if (handle.mode === "build") throw new SandboxerError("SBX_UNSUPPORTED", "a Packer build has no workspace to snapshot (its artifacts are kept by Packer)");
    await snapshotAttach(ctx, handle, dest);
  },

  async exec(ctx, handle, argv, io, opts) {
    return execAttach(ctx, workspaceOf(handle), argv, io, opts);
  },

  async sandboxCommand(ctx, handle, argv, opts) {
    return attachCommand(ctx, workspaceOf(handle), argv, opts);
  },

  scratchDir: (_ctx, handle) => scratchOf(workspaceOf(handle)),
  // A VM is shared: file paths stay inside this sandbox's workspace, links included.
  fileRoot: (_ctx, handle) => workspaceOf(handle).workspace,

  async waitReady(ctx, handle) {
    return handle.mode === "build" ? buildReachability(ctx, handle) : attachReady(ctx, handle);
  },

  alive(ctx, handle) {
    return handle.mode === "build" ? buildAlive(ctx, handle) : attachAlive(ctx, handle);
  },

  async teardown(ctx, handle) {
    if (handle) return handle.mode === "build" ? teardownBuild(ctx, handle) : teardownAttach(ctx, handle);
    // No handle (a crash before the first checkpoint): the record's mode says which. An orphan
    // whose record is lost says nothing: its build state here, or its workspace on a registry VM.
    if (ctx.sandbox.mode || ctx.sandbox.inputs?.mode || ctx.sandbox.inputs?.vm || ctx.sandbox.inputs?.vm_name) {
      return modeOf(ctx) === "build" ? teardownBuild(ctx, null) : teardownAttach(ctx, null);
    }
    await teardownBuild(ctx, null);
    await teardownAttachById(ctx);
  },

  async list(ctx, where) {
    if (where === "remote") {
      return (await listAttach(ctx)).map((w): BackendResource => ({ sandboxId: w.sandboxId, kind: "vm-workspace", ref: w.ref, detail: { vm: w.vm } }));
    }
    // Builds in flight or kept on the placement host.
    const root = stateRootFor(ctx);
    const res = await ctx.transport.run(["sh", "-c", LIST_STATE_DIRS, "sh", root], { timeoutMs: 60_000 });
    if (res.code !== 0) throw new SandboxerError("SBX_INTERNAL", `listing ${root} on ${ctx.host.name} failed: ${res.stderr.trim().slice(-200)}`);
    return res.stdout
      .split("\n")
      .filter((name) => SANDBOX_ID_RE.test(name))
      .map(
        (name): BackendResource => ({
          sandboxId: name,
          kind: "packer-build",
          ref: ctx.host.name === "localhost" ? posix.join(root, name) : `${ctx.host.name}:${posix.join(root, name)}`,
        }),
      );
  },
});
