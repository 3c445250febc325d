import { z } from "zod";
import type { Confinement } from "./limits/apply.js";

const isConfinement = (v: unknown): v is Confinement => {
  const c = v as Partial<Confinement> | null;
  return typeof c === "object" && c !== null && Array.isArray(c.cgroups) && Array.isArray(c.rlimits) && typeof c.plan === "object";
};

/**
 * What ext.local keeps on the record, written with `ready` (provision
 * checkpoints nothing: teardown finds everything by the sandbox id). The
 * optional fields are absent when nothing was confined, and in records older
 * than them.
 */
export const localHandle = z.object({
  workspace: z.string(),
  runDir: z.string(),
  network: z.enum(["none", "host"]),
  pid: z.number().int().positive().optional(),
  childPid: z.number().int().positive().optional(),
  childStart: z.string().optional(),
  /** Cgroups, rlimits and workspace image that enforce the profile's limits, kept whole as src/extensions/local/limits/ writes them. */
  limits: z.custom<Confinement>(isConfinement, "cgroups, rlimits and plan of the sandbox's limits").optional(),
});

export type LocalHandle = z.infer<typeof localHandle>;
