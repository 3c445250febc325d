import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { planCreate } from "../src/broker/plan.js";
import { resolveInputs } from "../src/catalog/inputs.js";
import { loadCatalog } from "../src/catalog/load.js";
import type { InputSpec } from "../src/catalog/schema.js";
import { resolvePaths } from "../src/config.js";
import { parseDuration } from "../src/duration.js";
import { SandboxerError } from "../src/errors.js";
import { bwrapArgv, isSandboxArgv } from "../src/extensions/local/bwrap.js";
import { canTransition } from "../src/lifecycle.js";
import { shellJoin, shellQuote } from "../src/transport/quote.js";
import { SqliteStore } from "../src/store/sqlite.js";
import { LOCALHOST } from "../src/types.js";

const tmp = mkdtempSync(join(tmpdir(), "sbx-unit-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof SandboxerError) return `${err.code}: ${err.message}`;
    throw err;
  }
  return "no error";
}

describe("quoting", () => {
  it.each([
    ["plain", "plain"],
    ["", "''"],
    ["a b", "'a b'"],
    ["it's", "'it'\\''s'"],
    ["$(rm -rf /)", "'$(rm -rf /)'"],
    ["`id`", "'`id`'"],
    ["a;b", "'a;b'"],
    ["line\nbreak", "'line\nbreak'"],
  ])("%j -> %s", (input, quoted) => {
    expect(shellQuote(input)).toBe(quoted);
  });

  it("round-trips through a real shell", async () => {
    const { execFileSync } = await import("node:child_process");
    const nasty = ["$(echo pwned)", "`id`", "a;b", "x'y\"z", "new\nline", "*", "~", "-n"];
    const out = execFileSync("sh", ["-c", `printf '%s\\0' ${shellJoin(nasty)}`]).toString();
    expect(out.split("\0").slice(0, -1)).toEqual(nasty);
  });
});

describe("lifecycle", () => {
  it("allows the documented transitions only", () => {
    expect(canTransition("requested", "provisioning")).toBe(true);
    expect(canTransition("provisioning", "ready")).toBe(true);
    expect(canTransition("provisioning", "failed")).toBe(true);
    expect(canTransition("ready", "destroying")).toBe(true);
    expect(canTransition("destroying", "destroy_failed")).toBe(true);
    expect(canTransition("destroy_failed", "destroying")).toBe(true);
    expect(canTransition("ready", "provisioning")).toBe(false);
    expect(canTransition("destroyed", "destroying")).toBe(false);
    expect(canTransition("requested", "ready")).toBe(false);
  });
});

describe("durations", () => {
  it("parses units and combinations", () => {
    expect(parseDuration("90s", "ttl")).toBe(90);
    expect(parseDuration("2h", "ttl")).toBe(7200);
    expect(parseDuration("1h30m", "ttl")).toBe(5400);
    expect(parseDuration("1d", "ttl")).toBe(86400);
  });
  it.each(["", "2", "h", "2x", "-1h", "0s", "1h;rm", `${"9".repeat(40)}s`])("refuses %j naming the field", (bad) => {
    expect(codeOf(() => parseDuration(bad, "ttl"))).toMatch(/^SBX_TTL_INVALID: ttl: /);
  });
});

describe("inputs", () => {
  const specs: Record<string, InputSpec> = {
    repo: { type: "path", required: false },
    vm: { type: "name", required: true, aliases: ["ssh_target"] },
    count: { type: "int", required: false, default: 2, min: 1, max: 5 },
    note: { type: "string", required: false },
  };
  it("merges defaults, maps aliases, normalises paths", () => {
    expect(resolveInputs(specs, { ssh_target: "haskell-build", repo: "./a//b/" })).toEqual({ vm: "haskell-build", repo: "a/b", count: "2" });
  });
  it("unknown and missing inputs name the field", () => {
    expect(codeOf(() => resolveInputs(specs, { vm: "x", bogus: "1" }))).toMatch(/^SBX_INPUT_UNKNOWN: input 'bogus'/);
    expect(codeOf(() => resolveInputs(specs, {}))).toMatch(/^SBX_INPUT_MISSING: input 'vm'/);
  });
  it.each([
    ["repo", "$(rm -rf /)"],
    ["repo", "`id`"],
    ["repo", "a;b"],
    ["repo", "../etc"],
    ["repo", "x/../../y"],
    ["repo", "a\nb"],
    ["note", "x".repeat(1025)],
    ["note", "a|b"],
    ["vm", "Upper"],
    ["vm", "a b"],
    ["count", "9"],
    ["count", "1e3"],
  ])("refuses %s=%.40j", (key, value) => {
    expect(codeOf(() => resolveInputs(specs, { vm: "ok", [key]: value }))).toMatch(new RegExp(`^SBX_INPUT_INVALID: input '${key}'`));
  });
});

describe("catalog", () => {
  it("loads the built-in profiles and registrations with no errors", async () => {
    const cat = await loadCatalog(resolvePaths({ HOME: tmp }));
    expect(cat.errors).toEqual([]);
    expect([...cat.profiles.keys()]).toEqual(expect.arrayContaining(["profile.sandbox-canary", "profile.local"]));
    expect(cat.registrations.get("ext.local")?.enabled).toBe(true);
  });

  it("reports every error with file and field, and keeps the good profiles", async () => {
    const dir = join(tmp, "profiles");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "profile.bad.yaml"), "id: profile.bad\nversion: zero\nextension: ext.local\nttl: { default: soon, max: 1h }\n");
    writeFileSync(join(dir, "profile.ghost.yaml"), "id: profile.ghost\nversion: 1\nextension: ext.ghost\n");
    writeFileSync(join(dir, "profile.input.yaml"), "id: profile.input\nversion: 1\nextension: ext.local\ninputs:\n  colour: { type: string }\n");
    writeFileSync(join(dir, "profile.yaml-broken.yaml"), "id: [unclosed\n");
    const cat = await loadCatalog(resolvePaths({ HOME: tmp, SANDBOXER_PROFILES_DIR: dir }));
    const fields = cat.errors.map((e) => `${e.file.split("/").pop()}:${e.field}`);
    expect(fields).toEqual(
      expect.arrayContaining([
        "profile.bad.yaml:version",
        "profile.bad.yaml:ttl.default",
        "profile.ghost.yaml:extension",
        "profile.input.yaml:inputs.colour",
        "profile.yaml-broken.yaml:(yaml)",
      ]),
    );
    expect(cat.profiles.has("profile.local")).toBe(true);
    expect(cat.profiles.has("profile.bad")).toBe(false);
  });
});

describe("planning (pure)", async () => {
  const catalog = await loadCatalog(resolvePaths({ HOME: tmp }));
  const hosts = new Map([["localhost", LOCALHOST]]);
  it("a bare create plans the canary on localhost with ext.local", () => {
    const plan = planCreate({}, { catalog, hosts });
    expect(plan.profile.id).toBe("profile.sandbox-canary");
    expect(plan.route).toMatchObject({ chosen: "ext.local", rejected: [] });
    expect(plan.host.name).toBe("localhost");
    expect(plan.ttlSeconds).toBe(900);
    expect(plan.actor).toBe("adm");
  });
  it("takes ttl, actor and project", () => {
    const plan = planCreate({ profile: "profile.local", ttl: "2h", actor: "agt", project: "demo" }, { catalog, hosts });
    expect(plan).toMatchObject({ ttlSeconds: 7200, actor: "agt", project: "demo" });
  });
  it.each([
    [{ profile: "profile.nope" }, "SBX_PROFILE_NOT_FOUND"],
    [{ ttl: "3h" }, "SBX_TTL_INVALID"],
    [{ actor: "root" }, "SBX_USAGE"],
    [{ project: "Bad Name" }, "SBX_USAGE"],
    [{ host: "elsewhere" }, "SBX_HOST_NOT_FOUND"],
    [{ extension: "ext.ghost" }, "SBX_EXTENSION_NOT_FOUND"],
    [{ profile: "profile.local", inputs: { nope: "1" } }, "SBX_INPUT_UNKNOWN"],
  ])("refuses %j with %s", (req, code) => {
    expect(codeOf(() => planCreate(req, { catalog, hosts }))).toMatch(new RegExp(`^${code}:`));
  });
});

describe("bubblewrap argv", () => {
  const root = { systemDirs: { "/usr": null, "/bin": "usr/bin" }, etcFiles: ["/etc/passwd", "/etc/hosts", "/etc/resolv.conf"] };
  it("isolates everything, binds the workspace, no network by default", () => {
    const argv = bwrapArgv({ sandboxId: "sbx-aaaaaaaaaaaa", workspace: "/w/sbx-aaaaaaaaaaaa", network: "none", infoFd: 3, root });
    expect(argv).toContain("--unshare-all");
    expect(argv).not.toContain("--share-net");
    expect(argv).not.toContain("/etc/resolv.conf");
    expect(argv.join(" ")).toContain("--ro-bind /usr /usr");
    expect(argv.join(" ")).toContain("--bind /w/sbx-aaaaaaaaaaaa /workspace");
    expect(argv).toContain("--clearenv");
    expect(isSandboxArgv(argv, "sbx-aaaaaaaaaaaa")).toBe("sbx-aaaaaaaaaaaa");
    expect(isSandboxArgv(argv, "sbx-bbbbbbbbbbbb")).toBeNull();
  });
  it("/dev: bwrap's own (with devpts) as root; device nodes on a tmpfs unprivileged, so no nested user namespace", () => {
    const plan = { sandboxId: "sbx-aaaaaaaaaaaa", workspace: "/w", network: "none" as const, infoFd: 3, root };
    expect(bwrapArgv({ ...plan, privileged: true }).join(" ")).toContain("--dev /dev");
    const unprivileged = bwrapArgv({ ...plan, privileged: false });
    expect(unprivileged).not.toContain("--dev");
    expect(unprivileged.join(" ")).toContain("--tmpfs /dev --dev-bind /dev/null /dev/null");
  });
  it("shares the host network only when the profile says so", () => {
    const argv = bwrapArgv({ sandboxId: "sbx-aaaaaaaaaaaa", workspace: "/w", network: "host", infoFd: 3, root });
    expect(argv).toContain("--share-net");
    expect(argv).toContain("/etc/resolv.conf");
  });
});

describe("store: keyset paging", () => {
  it("walks every record once in (createdAt, id) order, ties broken by id, filters applied", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sbx-page-"));
    const store = new SqliteStore(join(dir, "sandboxer.db"));
    try {
      const at = (i: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, Math.floor(i / 3))).toISOString(); // three records share each second
      await store.tx(async (t) => {
        for (let i = 0; i < 50; i++) {
          await t.sandboxes.insert({
            // ids run against insert order, so records sharing a createdAt must come back sorted by id.
            id: `sbx-page-${String(99 - i)}`,
            profile: "profile.local",
            profileVersion: 1,
            extension: "ext.local",
            mode: null,
            host: "localhost",
            state: i % 5 === 0 ? "failed" : "ready",
            actor: "adm",
            project: null,
            inputs: {},
            createdAt: at(i),
            readyAt: null,
            expiresAt: null,
            destroyedAt: null,
            reason: null,
            reachability: null,
            route: null,
            cost: null,
            error: null,
            hostFacts: null,
            ttlSeconds: 3600,
            updatedAt: at(i),
            handle: null,
            ownerPid: null,
            ownerStart: null,
          });
        }
      });
      const all = (await store.sandboxes.list({ states: ["ready"] })).map((r) => r.id);
      expect(all.length).toBe(40);
      const seen: string[] = [];
      let after: { createdAt: string; id: string } | undefined;
      for (;;) {
        const page = await store.sandboxes.list({ states: ["ready"], after, limit: 7 });
        seen.push(...page.map((r) => r.id));
        const last = page.at(-1);
        if (page.length < 7 || !last) break;
        after = { createdAt: last.createdAt, id: last.id };
      }
      expect(seen).toEqual(all);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
