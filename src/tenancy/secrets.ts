/**
 * Secret inputs (`secret: true` in the profile, and every `packer_var_*`)
 * are handed to the extension for one provision and never kept: the record,
 * its events and snapshots carry a placeholder instead. Recreate and restore
 * cannot repeat a value that was never kept, so they ask for it again.
 */
import { isSecretInput } from "../catalog/inputs.js";
import type { InputSpec } from "../catalog/schema.js";
import { SandboxerError } from "../errors.js";

// Which inputs are secret is the catalog's to say (it checks them when inputs resolve); re-exported for policy code.
export { isSecretInput };

/** What a record holds in place of a secret value. */
export const SECRET_PLACEHOLDER = "(secret)";

/** The spec that declares `name`: its own, or the family whose prefix it extends. */
export function specOf(specs: Record<string, InputSpec>, name: string): InputSpec | undefined {
  if (specs[name]) return specs[name];
  for (const [prefix, spec] of Object.entries(specs)) if (spec.prefix && name.startsWith(prefix) && name.length > prefix.length) return spec;
  return undefined;
}

/** The inputs as a record may keep them: every secret value replaced by the placeholder. */
export function redactInputs(specs: Record<string, InputSpec>, inputs: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(inputs)) out[k] = isSecretInput(k, specOf(specs, k)) ? SECRET_PLACEHOLDER : v;
  return out;
}

/**
 * Refuse a request that carries a placeholder where a secret belongs: it comes
 * from a record (recreate, restore), whose secret was never kept.
 */
export function refuseUnkeptSecrets(specs: Record<string, InputSpec>, inputs: Record<string, string>): void {
  const missing = Object.entries(inputs)
    .filter(([k, v]) => v === SECRET_PLACEHOLDER && isSecretInput(k, specOf(specs, k)))
    .map(([k]) => k)
    .sort();
  if (!missing.length) return;
  throw new SandboxerError(
    "SBX_INPUT_MISSING",
    `input '${missing[0]}': secret inputs (${missing.join(", ")}) are not kept on records, so recreate and restore cannot repeat them; create again and give them (--input ${missing[0]}=...)`,
    { details: { field: missing[0] } },
  );
}
