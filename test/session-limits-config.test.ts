/** `sessionLimits` in the server config: defaults, a partial block, and bad values named by field. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DEFAULT_SESSION_LIMITS, loadConfig, resolvePaths } from "../src/config.js";
import { SandboxerError } from "../src/errors.js";

const dir = mkdtempSync(join(tmpdir(), "sbx-limits-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function load(yaml: string | null) {
  const file = join(dir, `config-${Math.random().toString(36).slice(2)}.yaml`);
  if (yaml !== null) writeFileSync(file, yaml);
  const env = { HOME: dir, SANDBOXER_HOME: join(dir, "home"), SANDBOXER_CONFIG: file };
  return loadConfig(resolvePaths(env), env);
}

describe("sessionLimits in the config", () => {
  it("defaults to 8/32 terminals and event streams, 16/64 execs, MCP exchanges and processes, 16 processes per sandbox", () => {
    expect(load(null).sessionLimits).toEqual(DEFAULT_SESSION_LIMITS);
    expect(DEFAULT_SESSION_LIMITS).toEqual({
      terminals: { perToken: 8, perProject: 32 },
      execs: { perToken: 16, perProject: 64 },
      processes: { perToken: 16, perProject: 64, perSandbox: 16 },
      mcp: { perToken: 16, perProject: 64 },
      eventStreams: { perToken: 8, perProject: 32 },
    });
  });

  it("keeps the defaults of what a partial block leaves out; 0 turns a limit off", () => {
    const l = load("sessionLimits:\n  terminals: { perToken: 0 }\n  processes: { perSandbox: 4 }\n").sessionLimits;
    expect(l.terminals).toEqual({ perToken: 0, perProject: 32 });
    expect(l.processes).toEqual({ perToken: 16, perProject: 64, perSandbox: 4 });
    expect(l.mcp).toEqual(DEFAULT_SESSION_LIMITS.mcp);
  });

  it.each([
    ["sessionLimits: { terminals: { perToken: -1 } }", "sessionLimits.terminals.perToken"],
    ["sessionLimits: { execs: { perToken: 1.5 } }", "sessionLimits.execs.perToken"],
    ["sessionLimits: { sockets: { perToken: 1 } }", "sessionLimits"],
    ["sessionLimits: { mcp: { perSandbox: 2 } }", "sessionLimits.mcp"],
  ])("refuses %s naming %s", (yaml, field) => {
    let err: unknown;
    try {
      load(yaml);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SandboxerError);
    expect((err as SandboxerError).code).toBe("SBX_CONFIG_INVALID");
    expect((err as SandboxerError).message).toContain(field);
  });
});
