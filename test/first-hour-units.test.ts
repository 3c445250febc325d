/**
 * Issue 18 ("what a new user trips on in the first hour"): the pure parts.
 * Output shapes, durations, template variables, failure messages.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { failureMessage } from "../src/broker/create.js";
import { describe as describeSandbox, expiresIn } from "../src/cli/commands/sandbox.js";
import { fieldLines, fieldRows } from "../src/cli/fields.js";
import { hostRows, reachedBy } from "../src/cli/hosts-table.js";
import { formatError, redactTokens } from "../src/cli/output.js";
import { formatDuration, parseDuration } from "../src/duration.js";
import { SandboxerError } from "../src/errors.js";
import { restoreCandidates } from "../src/extensions/compose-ssh/restore-source.js";
import { declaredVariables, hclVariables, templateFiles } from "../src/extensions/vm-packer/template-vars.js";
import type { Sandbox } from "../src/types.js";

const tmp = mkdtempSync(join(tmpdir(), "sbx-firsthour-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const record = (over: Partial<Sandbox>): Sandbox => ({
  id: "sbx-aaaaaaaaaaaa",
  profile: "profile.x",
  profileVersion: 1,
  extension: "ext.compose-ssh",
  mode: null,
  host: "h1",
  state: "ready",
  actor: "adm",
  project: null,
  inputs: {},
  createdAt: "2026-01-01T00:00:00.000Z",
  readyAt: "2026-01-01T00:00:01.000Z",
  expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
  destroyedAt: null,
  reason: null,
  reachability: null,
  route: null,
  cost: null,
  error: null,
  hostFacts: null,
  ttlSeconds: 3600,
  updatedAt: "2026-01-01T00:00:01.000Z",
  ...over,
});

describe("durations read in one unit system", () => {
  it.each([
    [22_500, "6h15m"],
    [21_600, "6h"],
    [90, "1m30s"],
    [90_061, "25h1m1s"],
    [3 * 86_400, "3d"],
    [3 * 86_400 + 7_200, "3d2h"],
  ])("%i s -> %s, and parseDuration reads it back", (s, text) => {
    expect(formatDuration(s)).toBe(text);
    expect(parseDuration(text, "x")).toBe(s);
  });
});

describe("structured fields render as tables and lines, not JSON", () => {
  const reach = {
    kind: "compose",
    services: {
      web: { container: "sbx-a-web-1", state: "running", health: "healthy" },
      worker: { container: "sbx-a-worker-1", state: "running", health: null },
    },
    ports: [{ service: "web", containerPort: 8080, hostPort: 41234, hostIp: "127.0.0.1", protocol: "tcp" }],
    urls: ["http://127.0.0.1:41234"],
  };

  it("services as a table keyed by service, ports as a table, urls as lines", () => {
    const text = fieldRows(reach, 12).join("\n");
    expect(text).not.toMatch(/[{}[\]]/);
    expect(text).toMatch(/^ {4}SERVICE\s+CONTAINER\s+STATE\s+HEALTH$/m);
    expect(text).toMatch(/^ {4}web\s+sbx-a-web-1\s+running\s+healthy$/m);
    expect(text).toMatch(/^ {4}worker\s+sbx-a-worker-1\s+running\s+-$/m);
    expect(text).toMatch(/^ {4}SERVICE\s+CONTAINER PORT\s+HOST PORT\s+HOST IP\s+PROTOCOL$/m);
    expect(text).toMatch(/^ {2}urls\s+http:\/\/127\.0\.0\.1:41234$/m);
  });

  it("facts as aligned key/value lines; null fields are left out", () => {
    expect(fieldLines({ kernel: "6.1.0", runtime: "podman version 4.3.1", runtimeOk: true })).toEqual([
      "kernel     6.1.0",
      "runtime    podman version 4.3.1",
      "runtimeOk  true",
    ]);
    expect(fieldRows({ port: null, vm: "v" }, 10)).toEqual(["  vm         v"]);
    // reachability.ssh_target: its argv on one line, no JSON.
    const target = { host: "10.0.0.1", user: "sbx", port: 2222, alias: "h1", argv: ["ssh", "-p", "2222", "h1"], command: "ssh -p 2222 h1" };
    expect(fieldLines(target)).toEqual([
      "host     10.0.0.1",
      "user     sbx",
      "port     2222",
      "alias    h1",
      "argv     ssh -p 2222 h1",
      "command  ssh -p 2222 h1",
    ]);
  });

  it("`get` of an SSH canary prints its facts once (they are the record's host facts)", () => {
    const facts = { kernel: "6.1.0", cpus: 2 };
    const text = describeSandbox(record({ reachability: { kind: "host-probe", facts }, hostFacts: facts }));
    expect(text.match(/kernel/g)).toHaveLength(1);
    expect(text).toMatch(/^ {2}host facts\n {4}kernel\s+6\.1\.0$/m);
  });

  it("a failed or destroyed record shows no expiry; a ready one does", () => {
    expect(expiresIn(record({ state: "failed" }))).toBe("-");
    expect(expiresIn(record({ state: "destroy_failed" }))).toBe("-");
    expect(expiresIn(record({}))).toMatch(/^in /);
    expect(describeSandbox(record({ state: "failed", error: { code: "SBX_X", message: "m" } }))).not.toMatch(/expires/);
  });
});

describe("hosts list", () => {
  it("says how each host is reached, with the default workspace root and maxSandboxes", () => {
    const hosts = [
      { name: "localhost", labels: ["local"], maxSandboxes: 4 },
      { name: "alias-only", labels: [] },
      { name: "explicit", labels: ["a"], ssh: { host: "10.0.0.1", user: "sbx", port: 2222 }, workspaceRoot: "/srv/sbx" },
      { name: "cluster-1", labels: ["kubernetes"], cluster: { context: "kind" } },
    ];
    const rows = hostRows(hosts, "/home/u/.local/share/sandboxer/workspaces");
    expect(rows[0]).toEqual(["localhost", "(this machine)", "-", "/home/u/.local/share/sandboxer/workspaces (default)", "4", "local"]);
    expect(rows[1]).toEqual(["alias-only", "ssh alias-only (ssh_config alias)", "-", "~/.local/share/sandboxer/stacks (default)", "-", "-"]);
    expect(rows[2]).toEqual(["explicit", "ssh sbx@10.0.0.1:2222", "-", "/srv/sbx", "-", "a"]);
    expect(rows[3]).toEqual(["cluster-1", "(cluster kind)", "-", "-", "-", "kubernetes"]);
    expect(reachedBy({ name: "alias-only", labels: [] })).not.toMatch(/local/);
  });
});

describe("secrets never reach an error message", () => {
  const token = `sbx_tok-abcdefghijkl_${"S".repeat(43)}`;
  it.each([token, `${token}x`, token.replace("_", "-"), token.slice(0, 30)])("%s is cut", (t) => {
    const out = formatError(new SandboxerError("SBX_USAGE", `no token '${t}'`), false);
    expect(out).not.toContain("SSSS");
    expect(out).not.toContain("abcdefghijkl");
    expect(redactTokens(`x ${t} y`)).toMatch(/^x sbx_tok-… \(token not shown\) y$/);
  });
  it("sandbox ids are not tokens", () => {
    expect(redactTokens("sbx-abcdefghijkl")).toBe("sbx-abcdefghijkl");
  });
});

describe("failure messages", () => {
  const err = new SandboxerError("SBX_INPUT_INVALID", "input 'vm': 'nosuchvm' does not resolve");
  it("a late input error says the backend found it after the record", () => {
    expect(failureMessage(err, null, "ext.vm-packer", "localhost")).toMatch(/found by ext.vm-packer on localhost after the record was made/);
  });
  it("a teardown failing for the same reason is not repeated", () => {
    const m = failureMessage(err, err.message, "ext.vm-packer", "localhost");
    expect(m.split("does not resolve")).toHaveLength(2);
    expect(m).toMatch(/teardown failed for the same reason/);
    expect(failureMessage(new SandboxerError("SBX_PROVISION_FAILED", "a"), "b", "e", "h")).toBe("a; teardown also failed: b");
  });
});

describe("Packer template variables, read without running Packer", () => {
  it("variable blocks with and without defaults, variables blocks, comments, nested braces", () => {
    const hcl = [
      '# variable "commented" {}',
      'variable "vm_name" {',
      "  type = string",
      "}",
      'variable "greeting" {',
      "  type    = string",
      '  default = "hello, {world}"',
      "}",
      'variable "tags" {',
      "  type = map(string)",
      "  validation {",
      "    condition = length(var.tags) > 0",
      '    error_message = "default = is not a default here"',
      "  }",
      "}",
      "variables {",
      '  region = "eu"',
      "  sizes = { small = 1 }",
      "}",
    ].join("\n");
    expect(hclVariables(hcl)).toEqual(
      new Map([
        ["vm_name", false],
        ["greeting", true],
        ["tags", false],
        ["region", true],
        ["sizes", true],
      ]),
    );
  });

  it("agrees with `packer inspect` on the fixture templates", () => {
    for (const name of ["ok", "fail", "slow"]) {
      const dir = join(import.meta.dirname, "fixtures", "packer", name);
      const vars = declaredVariables(templateFiles(dir, dir));
      const inspect = execFileSync("packer", ["inspect", dir], { encoding: "utf8" });
      const listed = [...inspect.matchAll(/^var\.([A-Za-z0-9_-]+): (.*)$/gm)].map((m) => [m[1], m[2] !== '"<unknown>"'] as const);
      expect([...(vars ?? new Map()).entries()].sort()).toEqual(listed.sort());
    }
  });

  it("a path that is not a template is refused naming packer_template", () => {
    const empty = join(tmp, "not-a-template");
    mkdirSync(empty);
    writeFileSync(join(empty, "README.txt"), "no template\n");
    expect(() => templateFiles(empty, "x")).toThrow(/input 'packer_template': directory x holds no \*\.pkr\.hcl/);
    expect(() => templateFiles(join(tmp, "nope"), "nope")).toThrow(/nope does not exist/);
    expect(() => templateFiles(join(empty, "README.txt"), "r")).toThrow(/not a Packer HCL2 template/);
  });

  it("JSON templates", () => {
    const dir = join(tmp, "json-template");
    mkdirSync(dir);
    writeFileSync(join(dir, "t.pkr.json"), JSON.stringify({ variable: { a: { type: "string" }, b: { default: "x" } } }));
    expect(declaredVariables(templateFiles(dir, dir))).toEqual(
      new Map([
        ["a", false],
        ["b", true],
      ]),
    );
  });
});

describe("compose restores look for the compose file in the workspace", () => {
  it("by the standard names, or the name compose_file gives (a lone local file by its base name)", () => {
    expect(restoreCandidates({})).toContain("compose.yaml");
    expect(restoreCandidates({ compose_file: "deploy/compose.test.yaml" })).toEqual(["deploy/compose.test.yaml"]);
    expect(restoreCandidates({ compose_file: "/home/u/stack.yml" })).toEqual(["stack.yml"]);
  });
});
