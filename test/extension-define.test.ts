/**
 * Declared = implemented: every built-in extension is consistent, and each way
 * a definition can contradict itself fails when it is defined, with a message
 * naming the extension and the capability (table-driven, no I/O).
 */
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { definitionProblems } from "../src/extensions/check.js";
import { defineExtension, type ExtensionDefinition } from "../src/extensions/define.js";
import { BUILTIN_EXTENSIONS, loadExtension } from "../src/extensions/index.js";
import { parseHandle } from "../src/extensions/bind.js";

const base = (): ExtensionDefinition<{ repo?: string | undefined }, { dir: string }> => ({
  id: "ext.sample",
  kind: "self-hosted",
  description: "a sample",
  capabilities: { snapshot: false, restore: false, build: false, exec: false },
  placement: { hosts: ["localhost"], shell: true },
  inputs: z.object({ repo: z.string().optional() }),
  handle: z.object({ dir: z.string() }),
  provision: async () => ({ dir: "/x" }),
  waitReady: async () => ({}),
  teardown: async () => {},
});

const fn = async () => ({ exitCode: 0 });

describe("defineExtension checks what an extension declares against what it implements", () => {
  it.each(BUILTIN_EXTENSIONS)("%s is consistent", async (id) => {
    expect(definitionProblems(await loadExtension(id))).toEqual([]);
  });

  it("a consistent definition passes and keeps its methods", () => {
    const d = defineExtension(base());
    expect(d.id).toBe("ext.sample");
  });

  const cases: [string, (d: Record<string, unknown>) => void, RegExp][] = [
    ["exec declared, no method", (d) => Object.assign(d.capabilities as object, { exec: true }), /capabilities\.exec is true but it has no exec method/],
    ["an exec method, not declared", (d) => Object.assign(d, { exec: fn }), /capabilities\.exec is not declared but it implements exec/],
    [
      "snapshot declared, no method",
      (d) => Object.assign(d.capabilities as object, { snapshot: true }),
      /capabilities\.snapshot is true but it has no snapshot method/,
    ],
    ["restore without snapshot", (d) => Object.assign(d.capabilities as object, { restore: true }), /capabilities\.restore needs capabilities\.snapshot/],
    [
      "a restore method (ctx.restoreFrom is the one way)",
      (d) => Object.assign(d, { restore: fn }),
      /restore: not a method; declare capabilities\.restore and fill the workspace from ctx\.restoreFrom/,
    ],
    [
      "build declared, no build mode",
      (d) => Object.assign(d.capabilities as object, { build: true }),
      /capabilities\.build is true but 'build' is not one of its modes/,
    ],
    [
      "a build mode, not declared",
      (d) => Object.assign(d, { modes: ["attach", "build"] }),
      /capabilities\.build is not declared but 'build' is one of its modes/,
    ],
    ["execService without exec", (d) => Object.assign(d.capabilities as object, { execService: true }), /capabilities\.execService needs capabilities\.exec/],
    [
      "files without files methods or sandboxCommand",
      (d) => Object.assign(d.capabilities as object, { files: true }),
      /capabilities\.files is true but it has neither/,
    ],
    [
      "processes without processes methods or sandboxCommand",
      (d) => Object.assign(d.capabilities as object, { processes: true }),
      /capabilities\.processes is true but it has neither processes methods nor a sandboxCommand method/,
    ],
    [
      "processes methods, not declared",
      (d) => Object.assign(d, { processes: { start: fn, state: fn, output: fn, kill: fn } }),
      /capabilities\.processes is not declared but it has processes methods/,
    ],
    ["processes methods half written", (d) => Object.assign(d, { processes: { start: fn } }), /processes\.state: missing/],
    ["execTimeout without exec", (d) => Object.assign(d.capabilities as object, { execTimeout: true }), /capabilities\.execTimeout needs capabilities\.exec/],
    ["execCancel without exec", (d) => Object.assign(d.capabilities as object, { execCancel: true }), /capabilities\.execCancel needs capabilities\.exec/],
    [
      "pty without sandboxCommand or exec",
      (d) => Object.assign(d.capabilities as object, { pty: true }),
      /capabilities\.pty is true but it has neither a sandboxCommand method nor an exec method/,
    ],
    [
      "limits on a metered extension",
      (d) =>
        Object.assign(d, {
          kind: "metered",
          placement: { hosts: [], shell: false, remote: "acct" },
          capabilities: { ...(d.capabilities as object), limits: true },
        }),
      /capabilities\.limits applies to self-hosted/,
    ],
    ["an unknown capability", (d) => Object.assign(d.capabilities as object, { snapshots: true }), /capabilities\.snapshots: not a capability/],
    ["a missing required capability", (d) => delete (d.capabilities as Record<string, unknown>).exec, /capabilities\.exec: required/],
    ["files methods half written", (d) => Object.assign(d, { files: { putArchive: fn } }), /files\.getArchive: missing/],
    ["a shell with no hosts", (d) => Object.assign(d, { placement: { hosts: [], shell: true } }), /placement\.shell is true but it places on no hosts/],
    ["an unknown host kind", (d) => Object.assign(d, { placement: { hosts: ["vm"], shell: true } }), /placement\.hosts: a list of localhost, ssh, cluster/],
    ["a list that is never asked", (d) => Object.assign(d, { placement: { hosts: [], shell: false }, list: fn }), /list: never asked/],
    [
      "perRequest naming an input it does not take",
      (d) => Object.assign(d, { perRequest: { inputs: ["branch"] } }),
      /perRequest\.inputs: 'branch' is not one of its inputs/,
    ],
    ["no handle schema", (d) => delete d.handle, /handle: not a zod schema/],
    ["no placement", (d) => delete d.placement, /placement: missing/],
  ];

  it.each(cases)("%s: SBX_EXTENSION_INVALID naming the extension and the capability", (_what, edit, message) => {
    const d = base() as unknown as Record<string, unknown>;
    edit(d);
    let err: unknown;
    try {
      defineExtension(d as unknown as ExtensionDefinition);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: "SBX_EXTENSION_INVALID", message: expect.stringMatching(/^extension ext\.sample: /) });
    expect((err as Error).message).toMatch(message);
  });

  it("a stored handle that does not fit the schema is SBX_HANDLE_INVALID naming sandbox, extension and field", () => {
    expect(parseHandle({ id: "ext.sample", handle: z.object({ dir: z.string() }) }, "sbx-aaaaaaaaaaaa", { dir: "/x" })).toEqual({ dir: "/x" });
    expect(() => parseHandle({ id: "ext.sample", handle: z.object({ dir: z.string() }) }, "sbx-aaaaaaaaaaaa", { dir: 1 })).toThrow(
      expect.objectContaining({
        code: "SBX_HANDLE_INVALID",
        message: expect.stringMatching(/^sbx-aaaaaaaaaaaa: its stored handle does not fit ext\.sample's handle schema \(dir: /),
      }),
    );
  });
});
