/**
 * Templates that declare `required_plugins` (in a `packer {}` block) need
 * `packer init` to install those plugins before validate and build. Packer
 * gained `init` in 1.7.0; an older Packer (Debian 12 ships 1.6.6) cannot read
 * the block at all, so such a template fails before anything is built, with
 * the version found and what to do about it.
 */
import { SandboxerError } from "../../errors.js";
import type { ExtensionContext } from "../define.js";
import { missingCommand, script } from "./host-shell.js";

/** Prints `yes` when one of the files ($@) declares required_plugins (HCL or JSON; comments do not count). */
const DECLARES_PLUGINS = `for f in "$@"; do grep -Eq '^[[:space:]]*"?required_plugins"?[[:space:]]*([{:=]|$)' "$f" 2>/dev/null && { echo yes; exit 0; }; done; echo no`;

/** The first Packer release with `packer init`. */
export const INIT_SINCE: readonly [number, number, number] = [1, 7, 0];

/** `1.6.6` from Packer's version output (`-machine-readable`: `ts,,version,1.6.6`; plain: `Packer v1.6.6`). */
export function parsePackerVersion(output: string): [number, number, number] | null {
  const m = /^\d+,[^,]*,version,v?(\d+)\.(\d+)\.(\d+)/m.exec(output) ?? /Packer v(\d+)\.(\d+)\.(\d+)/.exec(output);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

export function versionAtLeast(v: readonly number[], min: readonly number[]): boolean {
  for (let i = 0; i < min.length; i++) {
    const a = v[i] ?? 0;
    const b = min[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true;
}

export async function declaresPlugins(ctx: ExtensionContext, files: string[]): Promise<boolean> {
  if (!files.length) return false;
  const res = await ctx.transport.run(script(DECLARES_PLUGINS, ...files));
  return res.stdout.trim() === "yes";
}

/**
 * Run `packer init` when the template needs plugins; refuse before building
 * when the host's Packer is too old to. `env` is the build's env prefix
 * (TMPDIR in its state dir), `onLine` the build log.
 */
export async function initPlugins(
  ctx: ExtensionContext,
  opts: { packer: string; template: string; files: string[]; target: string; workdir: string; env: string[]; onLine: (line: string) => void },
): Promise<void> {
  if (!(await declaresPlugins(ctx, opts.files))) return;
  const ver = await ctx.transport.run([...opts.env, opts.packer, "-machine-readable", "version"]);
  if (missingCommand(ver))
    throw new SandboxerError(
      "SBX_DEPENDENCY_MISSING",
      `${opts.packer} is not installed on host ${ctx.host.name} (apt-get install packer, or set SANDBOXER_PACKER)`,
    );
  const version = parsePackerVersion(ver.stdout);
  const shown = version ? version.join(".") : `unknown (\`${opts.packer} version\` printed no version)`;
  if (!version || !versionAtLeast(version, INIT_SINCE)) {
    throw new SandboxerError(
      "SBX_DEPENDENCY_MISSING",
      `input 'packer_template': ${opts.template} declares required_plugins, which need \`packer init\` (Packer ${INIT_SINCE.join(".")} or later); ` +
        `host ${ctx.host.name} has Packer ${shown}. Install Packer >= ${INIT_SINCE.join(".")} there (or point SANDBOXER_PACKER or the profile's settings.packer at one), ` +
        "or drop the required_plugins block if the template uses only Packer's builtin plugins",
      { details: { field: "packer_template", packerVersion: version ? version.join(".") : null } },
    );
  }
  ctx.progress(`packer init ${opts.template} (Packer ${shown}: required_plugins)`);
  const init = await ctx.transport.run([...opts.env, opts.packer, "init", opts.target], { cwd: opts.workdir, onLine: (line) => opts.onLine(line) });
  if (init.code !== 0) {
    const tail = `${init.stdout}\n${init.stderr}`.trim().split("\n").filter(Boolean).slice(-3).join(" | ") || `exit ${init.code}`;
    throw new SandboxerError("SBX_PROVISION_FAILED", `packer init failed on host ${ctx.host.name} (exit ${init.code}): ${tail}`, {
      details: { field: "packer_template" },
    });
  }
}
