import { z } from "zod";

/** Attach mode: a workspace on a VM reached by its ssh alias (and tunnel port). */
export const attachHandle = z.object({
  mode: z.literal("attach"),
  vm: z.string(),
  port: z.number().int().nullable(),
  root: z.string(),
  workspace: z.string(),
  copied: z.enum(["rsync", "tar"]).nullable(),
});

const artifact = z.object({ build: z.string(), builderId: z.string(), id: z.string(), description: z.string(), files: z.array(z.string()) });

/** Build mode: a Packer build on the placement host, its state dir and what it made. */
export const buildHandle = z.object({
  mode: z.literal("build"),
  /** Where the process-group id lives, on the placement host. */
  stateDir: z.string(),
  pidFile: z.string(),
  /** Build log on the sandboxer machine. */
  log: z.string(),
  template: z.string(),
  workdir: z.string(),
  vmName: z.string().nullable(),
  artifacts: z.array(artifact),
});

/** ext.vm-packer's handle: the mode says which; teardown after a crash picks its path by it. */
export const vmPackerHandle = z.discriminatedUnion("mode", [attachHandle, buildHandle]);

export type AttachHandle = z.infer<typeof attachHandle>;
export type BuildHandle = z.infer<typeof buildHandle>;
export type VmPackerHandle = z.infer<typeof vmPackerHandle>;
