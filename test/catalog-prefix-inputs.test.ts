import { describe, expect, it } from "vitest";
import { resolveInputs } from "../src/catalog/inputs.js";
import { inputSpecSchema } from "../src/catalog/schema.js";
import { SandboxerError } from "../src/errors.js";

const specs = {
  packer_template: inputSpecSchema.parse({ type: "path" }),
  packer_var_: inputSpecSchema.parse({ type: "string", prefix: true }),
};

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return err instanceof SandboxerError ? `${err.code}:${String(err.details?.field)}` : "other";
  }
  return "ok";
}

describe("prefix (family) inputs", () => {
  it("accepts every <prefix><name> and keeps it under its full name", () => {
    expect(resolveInputs(specs, { packer_var_region: "eu-1", packer_var_disk_gb: "20", packer_template: "/t" })).toEqual({
      packer_var_region: "eu-1",
      packer_var_disk_gb: "20",
      packer_template: "/t",
    });
  });

  it("checks each member against the family's type", () => {
    expect(code(() => resolveInputs(specs, { packer_var_x: "a\nb" }))).toBe("SBX_INPUT_INVALID:packer_var_x");
    expect(code(() => resolveInputs(specs, { packer_var_x: "x".repeat(2000) }))).toBe("SBX_INPUT_INVALID:packer_var_x");
    // packer_var_* are secrets: they travel in a 0600 var file, never through a shell, so HCL lists and quotes are fine.
    expect(resolveInputs(specs, { packer_var_x: '["a", "b;c"]' })).toEqual({ packer_var_x: '["a", "b;c"]' });
  });

  it("refuses the bare prefix and unrelated names, and lists the family as prefix<name>", () => {
    expect(code(() => resolveInputs(specs, { packer_var_: "x" }))).toBe("SBX_INPUT_UNKNOWN:packer_var_");
    expect(code(() => resolveInputs(specs, { packer_vars: "x" }))).toBe("SBX_INPUT_UNKNOWN:packer_vars");
    expect(() => resolveInputs(specs, { nope: "x" })).toThrow(/known: packer_template, packer_var_<name>/);
  });

  it("a family is never required and takes no default", () => {
    expect(resolveInputs(specs, {})).toEqual({});
    expect(inputSpecSchema.safeParse({ type: "string", prefix: true, default: "x" }).success).toBe(false);
    expect(inputSpecSchema.safeParse({ type: "string", prefix: true, required: true }).success).toBe(false);
  });
});
