import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { SANDBOX_ID_RE } from "../../ids.js";
import type { Handle } from "../../types.js";
import { type BackendResource, defineExtension, type ExtensionContext } from "../define.js";
import { SandboxerError } from "../../errors.js";
import { type AttachHandle, attachAlive, attachReady, listAttach, provisionAttach, snapshotAttach, teardownAttach } from "./attach.js";
import { buildAlive, buildReachability, provisionBuild, teardownBuild } from "./build.js";
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
    tunnel_port: z.string().regex(/^\d{1,5}$/, "a port number").optional(),
    repo: z.string().optional(),
    workspace_dir: z.string().optional(),
    packer_template: z.string().optional(),
    vm_name: z.string().optional(),
    packer_var_file: z.string().optional(),
    packer_var_: z.string().optional(),
  })
  .superRefine((v, issue) => {
    if (v.mode === "build" && !v.packer_template) issue.addIssue({ code: "custom", path: ["packer_template"], message: "required in build mode: a directory of *.pkr.hcl or a template file" });
    if (v.mode === "attach" && !v.vm && !v.vm_name) issue.addIssue({ code: "custom", path: ["vm"], message: "required in attach mode: the VM's ssh alias" });
  });

type Inputs = z.infer<typeof inputs>;

function noWorkspace(ctx: Pick<ExtensionContext, "sandbox">, handle: Handle): void {
  if (modeOf(ctx, handle) === "build") {
    throw new SandboxerError("SBX_UNSUPPORTED", "a Packer build has no sandbox to run commands in or move files to (its image is the result); these work on attach workspaces (--input mode=attach)");
  }
}

function modeOf(ctx: Pick<ExtensionContext, "sandbox">, handle?: Handle | null): Mode {
  const m = (handle as { mode?: string } | null | undefined)?.mode ?? ctx.sandbox.mode ?? ctx.sandbox.inputs.mode;
  return m === "build" ? "build" : "attach";
}

export default defineExtension<Inputs>({
  id: "ext.vm-packer",
  kind: "self-hosted",
  description: "attach: a workspace /build/<id>/ on a pre-built VM over SSH (repo rsync'd in); build: a Packer build with progress and artifacts",
  // Snapshot, restore and exec apply to attach workspaces; a build has no workspace to capture or run in.
  capabilities: { snapshot: true, restore: true, build: true, exec: true, files: true, processes: true, pty: true },
  // A workspace lives on the VM and an image is made by Packer's builder: the placement host only runs the bookkeeping.
  offHost: true,
  inputs,

  async preflight(input, env, plan) {
    // A value that starts like an HCL list, map or quoted string must be one (refused before any record).
    for (const [key] of packerVars(input)) hclValue(key, input[key] as string);
    const mode = input.mode ?? plan.mode;
    if (mode === "build") preflightBuild(input, env, plan);
    else await preflightAttach(input, env, plan);
  },

  provision(ctx, input) {
    if (modeOf(ctx) === "build" && ctx.restoreFrom) throw new SandboxerError("SBX_UNSUPPORTED", "build mode has no workspace to restore into; restore into attach mode (--input mode=attach)");
    return modeOf(ctx) === "build" ? provisionBuild(ctx, input) : provisionAttach(ctx, input);
  },

  async snapshot(ctx, handle, dest) {
    if (modeOf(ctx, handle) === "build") throw new SandboxerError("SBX_UNSUPPORTED", "a Packer build has no workspace to snapshot (its artifacts are kept by Packer)");
    await snapshotAttach(ctx, handle, dest);
  },

  async exec(ctx, handle, argv, io, opts) {
    noWorkspace(ctx, handle);
    return execAttach(ctx, handle, argv, io, opts);
  },

  async sandboxCommand(ctx, handle, argv, opts) {
    noWorkspace(ctx, handle);
    return attachCommand(ctx, handle, argv, opts);
  },

  scratchDir: (_ctx, handle) => scratchOf(handle as unknown as AttachHandle),
  // A VM is shared: file paths stay inside this sandbox's workspace, links included.
  fileRoot: (_ctx, handle) => (handle as unknown as AttachHandle).workspace,

  async waitReady(ctx, handle) {
    return modeOf(ctx, handle) === "build" ? buildReachability(ctx, handle) : attachReady(ctx, handle);
  },

  alive(ctx, handle) {
    return modeOf(ctx, handle) === "build" ? buildAlive(ctx, handle) : attachAlive(ctx, handle);
  },

  teardown(ctx, handle) {
    return modeOf(ctx, handle) === "build" ? teardownBuild(ctx, handle) : teardownAttach(ctx, handle);
  },

  async list(ctx) {
    const found: BackendResource[] = [];
    // Builds in flight or kept on this machine (remote build hosts: `inspect stale`).
    const builds = join(ctx.paths.run, "vm-packer");
    if (existsSync(builds)) {
      for (const name of readdirSync(builds)) if (SANDBOX_ID_RE.test(name)) found.push({ sandboxId: name, kind: "packer-build", ref: join(builds, name) });
    }
    for (const w of await listAttach(ctx)) found.push({ sandboxId: w.sandboxId, kind: "vm-workspace", ref: w.ref, detail: { vm: w.vm } });
    return found;
  },
});
