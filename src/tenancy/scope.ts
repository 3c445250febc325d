/** The confinement scope of one plan: the config's grants for its project, read from disk. */
import type { Config, Env, Paths } from "../config.js";
import { loadPortRegistry } from "../extensions/vm-packer/port-registry.js";
import { type Caller, isOperator } from "./access.js";
import { type ConfineScope, type Confined, confineInputs } from "./confine.js";
import type { InputSpec } from "../catalog/schema.js";

export function scopeFor(config: Config, paths: Paths, env: Env, caller: Caller | undefined, project: string | null): ConfineScope {
  const vms = new Set<string>();
  if (!isOperator(caller)) {
    for (const name of config.hosts.keys()) if (name !== "localhost") vms.add(name);
    for (const slot of loadPortRegistry(paths, env)?.slots ?? []) if (slot.vm !== "localhost") vms.add(slot.vm);
  }
  return { caller, roots: (project !== null && config.projects.get(project)?.roots) || [], templates: config.packerTemplates, vms };
}

/** Confine a plan's inputs for its caller (see confine.ts). */
export function confinePlanInputs(
  plan: { profile: { inputs: Record<string, InputSpec> }; inputs: Record<string, string>; project: string | null },
  caller: Caller | undefined,
  rt: { config(): Config; paths: Paths; env: Env },
): Confined {
  return confineInputs(plan.profile.inputs, plan.inputs, scopeFor(rt.config(), rt.paths, rt.env, caller, plan.project));
}
