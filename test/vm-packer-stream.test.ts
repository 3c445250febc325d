import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PackerStream, parseRecord, unescapeField } from "../src/extensions/vm-packer/packer-stream.js";

const REC = join(import.meta.dirname, "fixtures", "packer", "recorded");
const lines = (name: string) => readFileSync(join(REC, name), "utf8").split("\n").filter(Boolean);

function feed(name: string) {
  const s = new PackerStream();
  const notes = lines(name)
    .map((l) => s.push(l))
    .filter((n) => n !== null);
  return { s, notes };
}

describe("packer machine-readable records", () => {
  it("splits timestamp, target, type and data", () => {
    expect(parseRecord("1795483862,file.image,artifact,0,builder-id,packer.file")).toEqual({
      timestamp: 1795483862,
      target: "file.image",
      type: "artifact",
      data: ["0", "builder-id", "packer.file"],
    });
  });

  it("unescapes %!(PACKER_COMMA) and literal \\n inside a field, after splitting", () => {
    const r = parseRecord("1795483862,,ui,message,    file.image: hello%!(PACKER_COMMA) world%!(PACKER_COMMA) a%!(PACKER_COMMA)b");
    expect(r?.data).toEqual(["message", "    file.image: hello, world, a,b"]);
    expect(unescapeField("a\\nb\\r")).toBe("a\nb\r");
  });

  it("ignores lines that are not records (stray stderr, blanks)", () => {
    expect(parseRecord("")).toBeNull();
    expect(parseRecord("Error: something human")).toBeNull();
    expect(parseRecord("notatime,,ui,say,x")).toBeNull();
  });
});

describe("PackerStream on recorded packer 1.6.6 output", () => {
  it("a successful build: progress notes, artifacts with builder id, id and files, no errors", () => {
    const { s, notes } = feed("build-ok.txt");
    expect(s.errors).toEqual([]);
    expect(s.errorCount).toBe(0);
    expect(notes.map((n) => n.message)).toContain("file.image: hello, world, a,b,c");
    expect(notes.some((n) => n.message.startsWith("Builds finished. The artifacts"))).toBe(true);
    // Builds run in parallel (order varies); the manifest post-processor re-reports each artifact; each is kept once.
    expect([...s.artifacts].sort((a, b) => a.build.localeCompare(b.build))).toEqual([
      { build: "file.image", builderId: "packer.file", id: "File", description: "Stored file: out/demo.img", files: ["out/demo.img"] },
      { build: "null.basic", builderId: "fnoeding.null", id: "Null", description: "Did not export anything. This is the null builder", files: [] },
    ]);
  });

  it("a failed provisioner: error lines, error count, no artifacts", () => {
    const { s, notes } = feed("build-fail.txt");
    expect(s.errorCount).toBe(1);
    expect([...s.artifacts].sort((a, b) => a.build.localeCompare(b.build))).toEqual([]);
    expect(notes.filter((n) => n.level === "error").length).toBeGreaterThan(0);
    expect(s.errors).toContain("null.basic: oops");
    expect(s.summary()).toMatch(/Script exited with non-zero exit status: 3/);
    expect(s.summary()).not.toMatch(/Some builds didn't complete/);
  });

  it("an interrupted build is recognised as cleanly cancelled", () => {
    const { s } = feed("build-cancelled.txt");
    expect(s.cancelled).toBe(true);
    expect([...s.artifacts].sort((a, b) => a.build.localeCompare(b.build))).toEqual([]);
  });

  it("validate with an undeclared -var: the multi-line error, commas restored", () => {
    const { s } = feed("validate-undeclared.txt");
    expect(s.errors).toHaveLength(1);
    expect(s.errors[0]).toMatch(/^Error: Undefined -var variable\n\nA "nope" variable was passed/);
    expect(s.errors[0]).toContain('declare variable "nope", place this block');
    expect(s.summary()).not.toContain("\n");
  });

  it("validate of a folder without templates", () => {
    const { s } = feed("validate-empty.txt");
    expect(s.summary()).toMatch(/Could not find any config file in .* A config file must be suffixed with `\.pkr\.hcl`/);
  });
});
