/**
 * Templates with `required_plugins`: `packer init` runs first where Packer can
 * (>= 1.7); an older Packer fails the create before anything is built, naming
 * its version and what to do.
 *
 * The refusal runs on Debian's real packer 1.6.6. No Packer >= 1.7 can be
 * installed on this machine (Debian 12 ships 1.6.6; release binaries cannot be
 * downloaded here), so the init path runs against a stand-in that reports
 * 1.9.4, records its `init` calls, and hands validate/build to the real 1.6.6
 * on a copy of the template without the `packer {}` block 1.6.6 cannot read.
 */
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SandboxerError } from "../src/errors.js";
import { parsePackerVersion, versionAtLeast } from "../src/extensions/vm-packer/packer-init.js";
import type { Sandbox } from "../src/types.js";
import { processesIn } from "./helpers/assert.js";
import { runCli } from "./helpers/cli.js";
import { makeHome, type TestHome } from "./helpers/home.js";

const FIX = join(import.meta.dirname, "fixtures", "packer");
let work: string;
let home: TestHome;

function template(name: string): string {
  const dir = mkdtempSync(join(work, `${name}-`));
  cpSync(join(FIX, name), dir, { recursive: true });
  return dir;
}

/** A Packer 1.9.4 stand-in: logs every call to `log`; `init` fails when `failInit`. */
function fakePacker(log: string, failInit: boolean): string {
  const file = join(work, `packer-1.9.4${failInit ? "-failing" : ""}`);
  const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  writeFileSync(
    file,
    [
      "#!/bin/sh",
      `log=${q(log)}`,
      'if [ "$1" = -machine-readable ] && [ "$2" = version ]; then echo "$*" >> "$log"; echo "1700000000,,version,1.9.4"; echo "1700000000,,version-prelease,"; exit 0; fi',
      'if [ "$1" = init ]; then echo "init $2 in $(pwd)" >> "$log";',
      failInit
        ? "  echo 'Failed getting the \"github.com/hashicorp/docker\" plugin: 404 Not Found' >&2; exit 1; fi"
        : '  echo "Installed plugin github.com/hashicorp/docker v1.0.8 in ..."; exit 0; fi',
      'echo "$1" >> "$log"',
      // validate/build: the real 1.6.6, on a copy without the block it cannot read.
      'tmp=$(mktemp -d) && cp -R . "$tmp"/ && rm -f "$tmp/plugins.pkr.hcl" && cd "$tmp" && exec packer "$@"',
      "",
    ].join("\n"),
  );
  chmodSync(file, 0o755);
  return file;
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "sbx-packer-init-"));
  home = makeHome();
});

afterAll(async () => {
  await home?.cleanup();
  for (const pid of processesIn(work)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  rmSync(work, { recursive: true, force: true });
});

describe("packer version parsing", () => {
  it("reads machine-readable and plain output; compares releases", () => {
    expect(parsePackerVersion("1796161005,,version,1.6.6\n1796161005,,version-prelease,\n")).toEqual([1, 6, 6]);
    expect(parsePackerVersion("Packer v1.11.2\n")).toEqual([1, 11, 2]);
    expect(parsePackerVersion("no version here")).toBeNull();
    expect(versionAtLeast([1, 6, 6], [1, 7, 0])).toBe(false);
    expect(versionAtLeast([1, 7, 0], [1, 7, 0])).toBe(true);
    expect(versionAtLeast([1, 11, 0], [1, 7, 0])).toBe(true);
    expect(versionAtLeast([2, 0, 0], [1, 7, 0])).toBe(true);
  });
});

describe("required_plugins on Debian's packer 1.6.6 (real)", () => {
  it("fails before building: names the Packer version and what to do; the record is failed, nothing built", { timeout: 120_000 }, async () => {
    const dir = template("plugins");
    const r = await runCli(["create", "--profile", "profile.vm-packer-build", "--input", `packer_template=${dir}`, "--json"], home.env, { timeoutMs: 110_000 });
    expect(r.code, r.stderr).toBe(1);
    const err = JSON.parse(r.stderr).error as SandboxerError & { details?: { id?: string } };
    expect(err.code).toBe("SBX_DEPENDENCY_MISSING");
    expect(err.message).toMatch(/declares required_plugins, which need `packer init` \(Packer 1\.7\.0 or later\)/);
    expect(err.message).toMatch(/host localhost has Packer 1\.6\.6\. Install Packer >= 1\.7\.0 there/);
    const list = (await runCli(["list", "--all", "--json"], home.env)).json<Sandbox[]>();
    const rec = list.find((s) => s.inputs.packer_template === dir);
    expect(rec?.state).toBe("failed");
    const events = (await runCli(["events", rec?.id as string, "--json"], home.env)).json<{ data: { message?: string } }[]>();
    const notes = events.map((e) => String(e.data.message ?? ""));
    expect(notes.some((m) => m.startsWith("packer build") || m.startsWith("packer validate"))).toBe(false);
  });

  it("a template without required_plugins (one that only mentions them in a comment) builds as before", { timeout: 120_000 }, async () => {
    const dir = template("plugins");
    rmSync(join(dir, "plugins.pkr.hcl"));
    const r = await runCli(["create", "--profile", "profile.vm-packer-build", "--input", `packer_template=${dir}`, "--json"], home.env, { timeoutMs: 110_000 });
    expect(r.code, r.stderr).toBe(0);
    await runCli(["destroy", r.json<Sandbox>().id], home.env);
  });
});

describe("required_plugins on Packer >= 1.7 (a 1.9.4 stand-in over the real 1.6.6)", () => {
  it("runs `packer init` in the template directory before validate and build", { timeout: 120_000 }, async () => {
    const dir = template("plugins");
    const log = join(work, "calls-ok.log");
    const env = { ...home.env, SANDBOXER_PACKER: fakePacker(log, false) };
    const r = await runCli(["create", "--profile", "profile.vm-packer-build", "--input", `packer_template=${dir}`, "--json"], env, { timeoutMs: 110_000 });
    expect(r.code, r.stderr).toBe(0);
    const sb = r.json<Sandbox>();
    expect(readFileSync(log, "utf8").trim().split("\n")).toEqual(["-machine-readable version", `init . in ${dir}`, "validate", "build"]);
    const notes = (await runCli(["events", sb.id, "--json"], env)).json<{ data: { message?: string } }[]>().map((e) => String(e.data.message ?? ""));
    expect(notes).toContain(`packer init ${dir} (Packer 1.9.4: required_plugins)`);
    expect(notes).toContain("null.basic: built with plugins");
    await runCli(["destroy", sb.id], env);
  });

  it("a failing `packer init` fails the create with its error; nothing is validated or built", { timeout: 120_000 }, async () => {
    const dir = template("plugins");
    const log = join(work, "calls-fail.log");
    const env = { ...home.env, SANDBOXER_PACKER: fakePacker(log, true) };
    const r = await runCli(["create", "--profile", "profile.vm-packer-build", "--input", `packer_template=${dir}`, "--json"], env, { timeoutMs: 110_000 });
    expect(r.code).toBe(1);
    const err = JSON.parse(r.stderr).error as SandboxerError;
    expect(err.code).toBe("SBX_PROVISION_FAILED");
    expect(err.message).toMatch(/packer init failed on host localhost \(exit 1\): Failed getting the "github.com\/hashicorp\/docker" plugin: 404/);
    expect(readFileSync(log, "utf8").trim().split("\n")).toEqual(["-machine-readable version", `init . in ${dir}`]);
    expect(existsSync(join(dir, "out"))).toBe(false);
  });
});
