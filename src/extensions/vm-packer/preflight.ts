/**
 * Plan-time checks of ext.vm-packer: everything that can be known on this
 * machine without making anything, so bad input fails before a record exists.
 * A build template on a remote build host, or a VM that resolves but does not
 * answer, is left to provision (it fails with the record and says so).
 */
import { execFile } from "node:child_process";
import { lookup } from "node:dns/promises";
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { type Env, expandHome } from "../../config.js";
import { SandboxerError } from "../../errors.js";
import type { PreflightContext } from "../define.js";
import { PACKER_VAR_PREFIX } from "./var-file.js";
import { loadPortRegistry } from "./port-registry.js";
import { declaredVariables, templateFiles } from "./template-vars.js";

const run = promisify(execFile);
const invalid = (field: string, why: string) => new SandboxerError("SBX_INPUT_INVALID", `input '${field}': ${why}`, { details: { field } });
const missing = (field: string, why: string) => new SandboxerError("SBX_INPUT_MISSING", `input '${field}' is required: ${why}`, { details: { field } });

export interface PreflightInputs {
  mode?: string | undefined;
  vm?: string | undefined;
  vm_name?: string | undefined;
  repo?: string | undefined;
  packer_template?: string | undefined;
  packer_var_file?: string | undefined;
  [k: string]: unknown;
}

function localDir(field: string, value: string, env: Env): void {
  const p = resolve(expandHome(value, env));
  if (!existsSync(p) || !statSync(p).isDirectory()) throw invalid(field, `${value} is not a directory on this machine`);
}

/** Build mode on this machine: the template is one, declares every -var we pass, and every variable without a default is set. */
export function preflightBuild(input: PreflightInputs, env: Env, plan: PreflightContext): void {
  if (plan.restoring)
    throw new SandboxerError("SBX_UNSUPPORTED", "build mode has no workspace to restore into; restore into attach mode (--input mode=attach)");
  if (!input.packer_template) throw missing("packer_template", "a directory of *.pkr.hcl or one template file");
  // The template lives on the build host: only `packer validate` there can tell.
  if (plan.host.name !== "localhost") return;
  if (input.packer_var_file && !existsSync(resolve(expandHome(input.packer_var_file, env))))
    throw invalid("packer_var_file", `${input.packer_var_file} does not exist on this machine`);
  const vars = declaredVariables(templateFiles(resolve(expandHome(input.packer_template, env)), input.packer_template));
  if (!vars) return;
  const declared = [...vars.keys()].sort().join(", ") || "none";
  for (const key of Object.keys(input).sort()) {
    if (!key.startsWith(PACKER_VAR_PREFIX) || key === "packer_var_file" || key.length === PACKER_VAR_PREFIX.length) continue;
    const name = key.slice(PACKER_VAR_PREFIX.length);
    if (!vars.has(name)) throw invalid(key, `the template declares no variable "${name}" (it declares: ${declared})`);
  }
  const vmName = input.vm_name ?? input.vm;
  if (vmName && !vars.has("vm_name")) throw invalid(input.vm_name ? "vm_name" : "vm", `the template declares no variable "vm_name" (it declares: ${declared})`);
  // A var file may set anything: then only packer can say what is unset.
  if (input.packer_var_file) return;
  for (const [name, hasDefault] of vars) {
    if (hasDefault || (name === "vm_name" && vmName) || `${PACKER_VAR_PREFIX}${name}` in input) continue;
    throw missing(name === "vm_name" ? "vm_name" : `${PACKER_VAR_PREFIX}${name}`, `the template's variable "${name}" has no default`);
  }
}

/**
 * Attach mode: the VM alias must resolve the way ssh will resolve it
 * (`ssh -G` reads the ssh_config without connecting); a repo must be a local
 * directory unless this is a restore (the workspace comes from the snapshot).
 */
export async function preflightAttach(input: PreflightInputs, env: Env, plan: PreflightContext): Promise<void> {
  const vm = input.vm ?? input.vm_name;
  if (!vm) throw missing("vm", "the VM's ssh alias in attach mode");
  if (input.repo && !plan.restoring) localDir("repo", input.repo, env);
  // A VM of the port registry is the operator's own declaration (reached through the bridge's tunnel): provision tells.
  if (loadPortRegistry(plan.paths, env)?.slots.some((s) => s.vm === vm)) return;
  const config = env.SANDBOXER_SSH_CONFIG ? expandHome(env.SANDBOXER_SSH_CONFIG, env) : undefined;
  let resolved: Record<string, string>;
  try {
    const { stdout } = await run("ssh", [...(config ? ["-F", config] : []), "-G", "--", vm], { timeout: 10_000, env: env as NodeJS.ProcessEnv });
    resolved = Object.fromEntries(stdout.split("\n").map((l) => [l.slice(0, l.indexOf(" ")), l.slice(l.indexOf(" ") + 1)]));
  } catch {
    return; // no ssh here, or an unreadable config: provision reports it
  }
  // Behind a jump host or a proxy command the name is resolved there, not here.
  if ((resolved.proxyjump ?? "none") !== "none" || (resolved.proxycommand ?? "none") !== "none") return;
  const target = resolved.hostname ?? vm;
  try {
    await lookup(target);
  } catch (err) {
    if ((err as { code?: string }).code !== "ENOTFOUND") return;
    throw invalid(
      input.vm ? "vm" : "vm_name",
      `'${vm}' is not a host alias in ${env.SANDBOXER_SSH_CONFIG || "~/.ssh/config"} and does not resolve${target !== vm ? ` (HostName ${target})` : ""}`,
    );
  }
}
