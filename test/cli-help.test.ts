/**
 * `sandboxer COMMAND --help` lists every flag of the command (from the
 * command's own parser) with a description; `create --profile P --help` lists
 * the profile's inputs; `sandboxer completion bash|zsh|fish` completes
 * commands, flags, profile ids, hosts and sandbox ids, driven here through the
 * real shells (bash with COMP_WORDS, fish with `complete -C`, zsh parsed).
 */
import { execFile, spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import type { Sandbox } from "../src/types.js";
import { CLI, runCli } from "./helpers/cli.js";
import { makeHome, type TestHome } from "./helpers/home.js";

let home: TestHome;
let sandbox: Sandbox;
const run = promisify(execFile);
const hasShell = (sh: string) => spawnSync("sh", ["-c", `command -v ${sh}`]).status === 0;

beforeAll(async () => {
  home = makeHome();
  writeFileSync(home.env.SANDBOXER_CONFIG as string, stringify({ hosts: { "build-box": { ssh: { host: "build-box.invalid" } } } }));
  const r = await runCli(["create", "--profile", "profile.local", "--json"], home.env);
  expect(r.code, r.stderr).toBe(0);
  sandbox = r.json<Sandbox>();
});
afterAll(async () => {
  await home?.cleanup();
});

/** Every command named by `sandboxer --help`. */
async function commands(): Promise<string[]> {
  const r = await runCli(["--help"], home.env);
  return r.stdout
    .split("\n")
    .map((l) => /^ {2}([a-z][a-z-]*) {2,}/.exec(l)?.[1])
    .filter((c): c is string => Boolean(c));
}

/** The flag lines of a help text: [flag names, whether each has a description]. */
function flags(text: string): { name: string; described: boolean }[] {
  const at = text.indexOf("\nflags:\n");
  if (at < 0) return [];
  return text
    .slice(at + 8)
    .split("\n")
    .filter((l) => /^ {2}(-\w, )?--/.test(l))
    .map((l) => {
      const m = /^ {2}(?:-\w, )?--([a-z-]+)(?: \S+)?(?: \(repeatable\))? {2,}(.*)$/.exec(l);
      return { name: m?.[1] ?? l.trim(), described: Boolean(m?.[2]?.trim()) };
    });
}

describe("COMMAND --help", () => {
  it("every command answers --help with its usage and every flag, each described; nothing is opened", async () => {
    const names = await commands();
    expect(names).toEqual(expect.arrayContaining(["create", "list", "events", "snapshot", "restore", "serve", "completion"]));
    const fresh = { ...home.env, SANDBOXER_HOME: join(home.dir, "never-made") };
    for (const name of names) {
      const r = await runCli([name, "--help"], fresh);
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
      expect(r.stdout, name).toMatch(new RegExp(`^sandboxer ${name}: .+\\n\\nusage: sandboxer ${name}`));
      const listed = flags(r.stdout);
      expect(
        listed.map((f) => f.name),
        name,
      ).toEqual(expect.arrayContaining(["json", "help"]));
      for (const f of listed) expect(f.described, `${name} --${f.name} has no description`).toBe(true);
    }
    expect(existsSync(join(home.dir, "never-made"))).toBe(false);
  });

  it("`help COMMAND` is `COMMAND --help`", async () => {
    const a = await runCli(["help", "events"], home.env);
    const b = await runCli(["events", "--help"], home.env);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
  });

  it("lists the flags each command really takes (subcommands too)", async () => {
    const expected: [string[], string[]][] = [
      [["create"], ["profile", "input", "host", "ttl", "route", "extension", "actor", "project", "idempotency-key"]],
      [["list"], ["state", "profile", "project", "extension", "host", "all"]],
      [["events"], ["follow", "since-seq", "limit"]],
      [["events", "flush"], ["budget"]],
      [["exec"], ["service", "timeout", "detach", "interactive", "tty", "cwd"]],
      [["kill"], ["signal"]],
      [["restore"], ["host", "ttl", "profile", "input", "extension", "actor", "project"]],
    ];
    for (const [argv, want] of expected) {
      const r = await runCli([...argv, "--help"], home.env);
      expect(r.code).toBe(0);
      expect(
        flags(r.stdout)
          .map((f) => f.name)
          .sort(),
        argv.join(" "),
      ).toEqual([...want, "json", "help"].sort());
    }
  });

  it("create --profile P --help lists the profile's inputs with type, default and description", async () => {
    const r = await runCli(["create", "--profile", "profile.vm-packer-build", "--help"], home.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("inputs of profile.vm-packer-build v1 (--input NAME=VALUE)");
    expect(r.stdout).toMatch(/\n {2}mode {2,}enum\(attach\|build\) {2,}default build {2,}build = run Packer/);
    expect(r.stdout).toMatch(/\n {2}vm_name \(alias vm\) {2,}name {2,}optional {2,}passed as -var vm_name/);
    expect(r.stdout).toMatch(/\n {2}packer_var_<NAME> {2,}string {2,}any number/);
    expect(r.stdout).toMatch(/\n {2}tunnel_port {2,}int 1\.\.65535/);
    // A half-typed line still gets help; an unknown profile is a clear error.
    expect((await runCli(["create", "--bogus", "--help"], home.env)).code).toBe(0);
    const bad = await runCli(["create", "--profile", "profile.nope", "--help"], home.env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("SBX_PROFILE_NOT_FOUND");
  });
});

/** Complete the line `words` (the cursor in the last word) with the bash script. */
async function bashComplete(words: string[]): Promise<string[]> {
  const script = (await runCli(["completion", "bash"], home.env)).stdout;
  const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const body = `${script}\nCOMP_WORDS=(${words.map(q).join(" ")}); COMP_CWORD=${words.length - 1}; _sandboxer; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = await run("bash", ["-c", body], { env: { ...home.env, PATH: `${dirname(CLI)}:${process.env.PATH}` } as NodeJS.ProcessEnv });
  return r.stdout.split("\n").filter(Boolean);
}

describe("completion", () => {
  it("bash: commands, subcommands, flags, flag values, profile ids, hosts and live sandbox ids", async () => {
    expect(await bashComplete(["sandboxer", "cr"])).toEqual(["create", "credits"]);
    expect(await bashComplete(["sandboxer", "create", "--pro"])).toEqual(["--profile", "--project"]);
    expect(await bashComplete(["sandboxer", "create", "--profile", "profile.vm-"])).toEqual(["profile.vm-haskell-build", "profile.vm-packer-build"]);
    expect(await bashComplete(["sandboxer", "create", "--host", ""])).toEqual(["build-box", "localhost"]);
    expect(await bashComplete(["sandboxer", "create", "--actor", ""])).toEqual(["adm", "agt", "atm"]);
    expect(await bashComplete(["sandboxer", "create", "--profile", "profile.vm-packer-build", "--input", "packer_t"])).toEqual(["packer_template="]);
    expect(await bashComplete(["sandboxer", "get", ""])).toEqual([sandbox.id]);
    expect(await bashComplete(["sandboxer", "destroy", sandbox.id.slice(0, 6)])).toEqual([sandbox.id]);
    expect(await bashComplete(["sandboxer", "events", ""])).toEqual(["flush", sandbox.id].sort());
    expect(await bashComplete(["sandboxer", "events", "flush", "--"])).toEqual(["--budget", "--help", "--json"]);
    expect(await bashComplete(["sandboxer", "profiles", "show", "profile.lo"])).toEqual(["profile.local"]);
    expect(await bashComplete(["sandboxer", "completion", ""])).toEqual(["bash", "fish", "zsh"]);
    expect(await bashComplete(["sandboxer", "ps", ""])).toEqual([sandbox.id]);
    expect(await bashComplete(["sandboxer", "pools", "set", "profile.loc"])).toEqual(["profile.local"]);
    // After `--` an exec's own command line is the shell's business.
    expect(await bashComplete(["sandboxer", "exec", sandbox.id, "--", "l"])).toEqual([]);
  });

  it("the completer never creates a store, and reads no ids through a remote server", async () => {
    const fresh = { ...home.env, SANDBOXER_HOME: join(home.dir, "no-home-yet") };
    const r = await runCli(["__complete", "2", "sandboxer", "get", ""], fresh);
    expect([r.code, r.stdout]).toEqual([0, ""]);
    expect(existsSync(join(home.dir, "no-home-yet"))).toBe(false);
    const remote = await runCli(["__complete", "2", "sandboxer", "get", ""], { ...home.env, SANDBOXER_URL: "http://127.0.0.1:9" });
    expect([remote.code, remote.stdout]).toEqual([0, ""]);
  });

  it.runIf(hasShell("fish"))("fish: the script loads and completes commands, flags and sandbox ids", async () => {
    const script = (await runCli(["completion", "fish"], home.env)).stdout;
    const file = join(home.dir, "sandboxer.fish");
    writeFileSync(file, script);
    const env = { ...home.env, PATH: `${dirname(CLI)}:${process.env.PATH}` } as NodeJS.ProcessEnv;
    const ask = async (line: string) =>
      (await run("fish", ["--no-config", "-c", `source ${file}; complete -C ${JSON.stringify(line)}`], { env })).stdout
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split("\t")[0]);
    expect(await ask("sandboxer cre")).toEqual(["create", "credits"]);
    expect(await ask("sandboxer list --st")).toEqual(["--state"]);
    expect(await ask("sandboxer get ")).toEqual([sandbox.id]);
  });

  it.runIf(hasShell("zsh"))("zsh: the script parses and defines its completion function", async () => {
    const script = (await runCli(["completion", "zsh"], home.env)).stdout;
    const file = join(home.dir, "_sandboxer");
    writeFileSync(file, script);
    expect((await run("zsh", ["-n", file])).stderr).toBe("");
    const r = await run("zsh", [
      "-f",
      "-c",
      `autoload -Uz compinit && compinit -u -d ${join(home.dir, "zcompdump")}; source ${file}; print -r -- $_comps[sandboxer]`,
    ]);
    expect(r.stdout.trim()).toBe("_sandboxer");
  });

  it("an unknown shell is a usage error", async () => {
    const r = await runCli(["completion", "tcsh"], home.env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/'tcsh' is not bash, zsh or fish/);
  });
});
