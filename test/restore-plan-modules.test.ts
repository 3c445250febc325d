/**
 * Whether a profile can take a restore is asked of its extension, and an
 * extension may live in a module its registration names (the open registry):
 * that one is loaded through the catalog too, not taken for unknown.
 */
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runtimeOf } from "../src/broker/internal.js";
import { restoreMisfit } from "../src/broker/restore-plan.js";
import { makeHome, type TestHome } from "./helpers/home.js";

const REPO = resolve(import.meta.dirname, "..");

/** An extension module written against the package entry; `restore` says whether it restores workspaces. */
const moduleSource = (id: string, restore: boolean) => `import { defineExtension, z } from "sand-boxer";
export default defineExtension({
  id: ${JSON.stringify(id)},
  kind: "self-hosted",
  description: "test module",
  capabilities: { snapshot: true, restore: ${restore}, build: false, exec: false },
  placement: { hosts: ["localhost"], shell: false },
  inputs: z.object({}),
  handle: z.object({ dir: z.string() }),
  async provision() { return { dir: "/nonexistent" }; },
  async waitReady() { return { kind: "directory" }; },
  async teardown() {},
  async snapshot() {},
});
`;

let home: TestHome | undefined;
afterEach(async () => {
  await home?.cleanup();
  home = undefined;
});

function operatorHome(): TestHome {
  const h = makeHome();
  const ops = join(h.dir, "ops");
  mkdirSync(join(ops, "node_modules"), { recursive: true });
  symlinkSync(REPO, join(ops, "node_modules", "sand-boxer"));
  mkdirSync(join(ops, "extensions"));
  mkdirSync(join(ops, "profiles"));
  for (const [name, restore] of [
    ["keeper", true],
    ["forgetter", false],
  ] as const) {
    writeFileSync(join(ops, "extensions", `${name}.js`), moduleSource(`ext.${name}`, restore));
    writeFileSync(join(ops, "extensions", `${name}.yaml`), `id: ext.${name}\nmodule: ./${name}.js\n`);
    writeFileSync(
      join(ops, "profiles", `profile.${name}.yaml`),
      `id: profile.${name}\nversion: 1\nextension: ext.${name}\nttl: { default: 30m, max: 2h }\ntimeout: 30s\n`,
    );
  }
  h.env.SANDBOXER_EXTENSIONS_DIR = join(ops, "extensions");
  h.env.SANDBOXER_PROFILES_DIR = join(ops, "profiles");
  return h;
}

describe("restore onto a host: the profile's extension from a module", () => {
  it("a module extension that restores fits; one that does not is named", async () => {
    home = operatorHome();
    const rt = runtimeOf(home.broker());
    const catalog = await rt.catalog();
    expect(catalog.errors ?? []).toEqual([]);
    const hosts = rt.config().hosts;
    const keeper = catalog.profiles.get("profile.keeper");
    const forgetter = catalog.profiles.get("profile.forgetter");
    if (!keeper || !forgetter) throw new Error("the test profiles did not load");
    expect(await restoreMisfit(keeper, hosts, "localhost", catalog.registrations)).toBeNull();
    expect(await restoreMisfit(forgetter, hosts, "localhost", catalog.registrations)).toBe("ext.forgetter cannot restore a workspace");
  });
});
