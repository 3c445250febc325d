/**
 * The open registry: examples/scratch-extension, a package written against the
 * package entry alone, installed in an operator's directory (as `npm install`
 * would: a copy, with `sand-boxer` linked beside it) and named by a
 * registration's `module:`. It runs the contract suite like a built-in one;
 * modules that do not load or contradict themselves are catalog errors.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { contextFor, runtimeOf } from "../src/broker/internal.js";
import { registrationFor } from "../src/tenancy/view.js";
import { testExtension } from "./extension-contract.js";
import { makeHome, type TestHome } from "./helpers/home.js";
import { runCli } from "./helpers/cli.js";

const REPO = resolve(import.meta.dirname, "..");
const EXAMPLE = join(REPO, "examples", "scratch-extension");
const PIPE = { stdin: "ignore", stdout: "pipe", stderr: "pipe" } as const;

/** An operator's directory: the example installed under node_modules, its registration and profile. */
function operatorHome(registration?: string): TestHome {
  const home = makeHome();
  const ops = join(home.dir, "ops");
  const pkg = join(ops, "node_modules", "sandboxer-ext-scratch");
  mkdirSync(join(ops, "node_modules"), { recursive: true });
  cpSync(EXAMPLE, pkg, { recursive: true });
  symlinkSync(REPO, join(ops, "node_modules", "sand-boxer"));
  mkdirSync(join(ops, "extensions"));
  mkdirSync(join(ops, "profiles"));
  writeFileSync(join(ops, "extensions", "scratch.yaml"), registration ?? readFileSync(join(EXAMPLE, "scratch.yaml"), "utf8"));
  cpSync(join(EXAMPLE, "profile.scratch.yaml"), join(ops, "profiles", "profile.scratch.yaml"));
  home.env.SANDBOXER_EXTENSIONS_DIR = join(ops, "extensions");
  home.env.SANDBOXER_PROFILES_DIR = join(ops, "profiles");
  return home;
}

testExtension({
  name: "ext.scratch",
  make: async () => ({ home: operatorHome(), request: { profile: "profile.scratch", inputs: { greeting: "hi" } } }),
});

describe("extensions from a registration's module:", () => {
  it("by path as well as by package name; listed with kind and capabilities; the CLI creates, execs and destroys", async () => {
    const home = operatorHome("id: ext.scratch\nmodule: ../node_modules/sandboxer-ext-scratch/index.js\n");
    try {
      const b = home.broker();
      const ext = (await b.extensions()).find((e) => e.id === "ext.scratch");
      expect(ext).toMatchObject({ kind: "self-hosted", capabilities: { exec: true, snapshot: false }, placement: { hosts: ["localhost"], shell: false } });
      const sb = (await runCli(["create", "--profile", "profile.scratch", "--input", "greeting=hello there", "--json"], home.env)).json<{
        id: string;
        reachability: { workspace: string };
      }>();
      const r = await runCli(["exec", sb.id, "--json", "--", "cat", "greeting.txt"], home.env);
      expect(r.json()).toMatchObject({ exitCode: 0, stdout: "hello there\n" });
      expect((await runCli(["destroy", sb.id, "--json"], home.env)).code).toBe(0);
      expect(existsSync(sb.reachability.workspace)).toBe(false);
    } finally {
      await home.cleanup();
    }
  });

  it("a tenant is never shown where a module lives (its registration file or module:)", async () => {
    const home = operatorHome();
    try {
      const reg = (await home.broker().catalog()).registrations.get("ext.scratch");
      expect(reg?.module).toBe("sandboxer-ext-scratch");
      const shown = registrationFor({ actor: "agt", project: "p1" }, reg as NonNullable<typeof reg>);
      expect(shown).not.toHaveProperty("module");
      expect(shown).not.toHaveProperty("file");
      expect(registrationFor(undefined, reg as NonNullable<typeof reg>)).toHaveProperty("module", "sandboxer-ext-scratch");
    } finally {
      await home.cleanup();
    }
  });

  it.each([
    ["a module that is not installed", "id: ext.scratch\nmodule: sandboxer-ext-missing\n", /module 'sandboxer-ext-missing' is not installed/],
    ["a path that does not exist", "id: ext.scratch\nmodule: ./nowhere.js\n", /nowhere\.js does not exist/],
    ["a module defining another id", "id: ext.other\nmodule: sandboxer-ext-scratch\n", /defines 'ext\.scratch', not 'ext\.other'/],
    ["a module taking a built-in id", "id: ext.local\nmodule: sandboxer-ext-scratch\n", /ext\.local: built in; a registration may not replace it/],
    ["neither a path nor a package name", "id: ext.scratch\nmodule: 'foo bar'\n", /neither a path .* nor a package name/],
  ])("%s is a catalog error naming the registration's module field; nothing is created", async (_what, yaml, message) => {
    const home = operatorHome(yaml);
    try {
      const b = home.broker();
      const catalog = await b.catalog();
      expect(catalog.errors).toContainEqual(expect.objectContaining({ field: "module", message: expect.stringMatching(message) }));
      await expect(b.create({ profile: "profile.scratch" })).rejects.toMatchObject({ code: "SBX_PROFILE_INVALID" });
      expect(await b.list()).toEqual([]);
    } finally {
      await home.cleanup();
    }
  });

  it("a module that declares a capability it does not implement fails at load, naming the extension and the capability", async () => {
    const home = operatorHome();
    try {
      // The operator's copy, edited: exec declared, the method removed.
      const file = join(home.dir, "ops", "node_modules", "sandboxer-ext-scratch", "index.js");
      writeFileSync(file, readFileSync(file, "utf8").replace("async exec(_ctx, h, argv, io, opts) {", "async notExec(_ctx, h, argv, io, opts) {"));
      const catalog = await home.broker().catalog();
      const err = catalog.errors.find((e) => e.field === "module");
      expect(err?.message).toMatch(/extension ext\.scratch/);
      expect(err?.message).toMatch(/capabilities\.exec is true but it has no exec method/);
      expect(catalog.registrations.has("ext.scratch")).toBe(false);
    } finally {
      await home.cleanup();
    }
  });

  it("a stored handle that does not parse is SBX_HANDLE_INVALID naming the field; destroy still removes the directory by the id", async () => {
    const home = operatorHome();
    try {
      const b = home.broker();
      const sb = await b.create({ profile: "profile.scratch" });
      const workspace = String((sb.reachability as { workspace: string }).workspace);
      await runtimeOf(b).store.sandboxes.update(sb.id, { handle: { workspace: 42 } });
      const err = await b.exec(sb.id, ["true"], PIPE).catch((e: unknown) => e);
      expect(err).toMatchObject({
        code: "SBX_HANDLE_INVALID",
        message: expect.stringMatching(new RegExp(`^${sb.id}: its stored handle does not fit ext\\.scratch's handle schema \\(workspace: `)),
      });
      expect((await contextFor(b, sb.id)).row.handle).toEqual({ workspace: 42 });
      expect(existsSync(workspace)).toBe(true);
      expect((await b.destroy(sb.id)).state).toBe("destroyed");
      expect(existsSync(workspace)).toBe(false);
    } finally {
      await home.cleanup();
    }
  });
});
