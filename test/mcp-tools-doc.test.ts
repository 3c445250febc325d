/**
 * docs/agents.md lists every MCP tool the server registers, and nothing else;
 * and every tool's schemas convert to the JSON Schema objects MCP requires.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { TOOLS } from "../src/mcp/registry.js";

const doc = readFileSync(new URL("../docs/agents.md", import.meta.url), "utf8");
const section = doc.slice(doc.indexOf("### Tools"), doc.indexOf("\n### ", doc.indexOf("### Tools") + 1));
const documented = [...section.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]);

describe("docs/agents.md tool table", () => {
  it("documents every tool in src/mcp/registry.ts, in the same order", () => {
    expect(documented).toEqual(TOOLS.map((t) => t.name));
  });

  it("names no tool that does not exist", () => {
    const names = new Set(TOOLS.map((t) => t.name));
    for (const name of documented) expect(names.has(name as string), `${name} is not a registered tool`).toBe(true);
  });
});

describe("tool schemas", () => {
  it("are objects with described properties, input and output", () => {
    const target = { target: "draft-2020-12" } as const;
    for (const t of TOOLS) {
      const input = t.input["~standard"].jsonSchema.input(target) as { type?: string; properties?: Record<string, { description?: string }> };
      const output = t.output["~standard"].jsonSchema.output(target) as { type?: string };
      expect(input.type, t.name).toBe("object");
      expect(output.type, t.name).toBe("object");
      // The description is all the model learns about an argument.
      for (const [k, v] of Object.entries(input.properties ?? {})) expect(v.description?.length ?? 0, `${t.name}.${k} has no description`).toBeGreaterThan(5);
    }
  });

  it("refuse bad arguments as SBX_USAGE naming the field", async () => {
    const exec = TOOLS.find((t) => t.name === "exec_command");
    const r = await exec?.input["~standard"].validate({ id: "sbx-x", argv: "ls" });
    expect(r && "issues" in r ? r.issues?.[0]?.message : "").toMatch(/^SBX_USAGE: argv: /);
  });
});
