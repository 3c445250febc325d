import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Env } from "../src/config.js";
import { TEST_IMAGE } from "./fixtures/podman.js";
import { type Sshd, startSshd } from "./fixtures/sshd.js";
import { type ComposeEnv, startComposeEnv } from "./helpers/compose-env.js";
import { makeHome, type TestHome } from "./helpers/home.js";
import { buildPrivateCli, type PrivateCli } from "./helpers/private-cli.js";

// Real CLI, loopback sshd and podman-compose: the policy refuses before anything exists,
// and the workspace root on a host is ours (0700) or refused. No timing assertions.

const NOBODY = 65534;

describe("compose policy and workspace roots through the CLI, sshd and podman", { timeout: 300_000 }, () => {
  let f: ComposeEnv;
  let home: TestHome;
  let cli: PrivateCli;
  let homeHost: Sshd;
  const sshHome = () => join(f.dir, "ssh-user-home");

  /** An env whose config places `sbx-test-host` at `root` (and a host with no root that logs in with HOME=sshHome()). */
  const withRoot = (name: string, root: string): Env => {
    const file = join(f.dir, `config-${name}.yaml`);
    writeFileSync(
      file,
      [
        "hosts:",
        `  sbx-test-host: { compose: podman-compose, workspaceRoot: ${root}, labels: [compose] }`,
        "  sbx-home-host: { compose: podman-compose }",
        "",
      ].join("\n"),
    );
    return { ...home.env, SANDBOXER_CONFIG: file };
  };
  const labelled = () => f.podman.podman(["ps", "-a", "--filter", "label=sandboxer.id", "--format", "{{.Names}}"]).split("\n").filter(Boolean);
  const sbxDirs = (root: string) => (existsSync(root) ? readdirSync(root).filter((d) => d.startsWith("sbx-")) : []);
  const errorOf = (stderr: string) => (JSON.parse(stderr) as { error: { code: string; message: string } }).error;

  beforeAll(async () => {
    cli = await buildPrivateCli();
    f = await startComposeEnv();
    // A third host whose SSH user has its own HOME: the default workspace root lives there.
    mkdirSync(sshHome(), { recursive: true });
    // EVIL: a variable the host's environment has and the stack's .env does not.
    homeHost = await startSshd({ alias: "sbx-home-host", setEnv: { ...f.podman.env, HOME: sshHome(), EVIL: "/" }, sshConfig: f.host1.configFile });
    writeFileSync(
      join(f.env.SANDBOXER_PROFILES_DIR as string, "profile.compose-home.yaml"),
      [
        "id: profile.compose-home",
        "version: 1",
        "extension: ext.compose-ssh",
        "placement: { hosts: [sbx-home-host] }",
        "timeout: 90s",
        "settings: { stopTimeoutSeconds: 1 }",
        "inputs:",
        "  repo: { type: path }",
        "",
      ].join("\n"),
    );
    home = makeHome(f.env);
  });
  afterAll(async () => {
    await home?.cleanup();
    await homeHost?.stop().catch(() => {});
    await f?.stop();
    cli?.cleanup();
  });

  it("a forbidden stack is refused at plan time: exit 4, SBX_POLICY_DENIED, no record, no session, no file, no container", async () => {
    const root = join(f.dir, "ws-policy");
    const env = withRoot("policy", root);
    const image = `    image: ${TEST_IMAGE}\n    command: ["sleep", "3600"]\n`;
    const symlinked = f.writeRepo("symlink-out", `services:\n  app:\n${image}    volumes: ["./hostroot:/host"]\n`);
    symlinkSync("/", join(symlinked, "hostroot"));
    const interpolated = f.writeRepo("interpolated", `services:\n  app:\n${image}    privileged: \${PRIV}\n`);
    writeFileSync(join(interpolated, ".env"), "PRIV=true\n");
    const stacks: [string, RegExp][] = [
      [
        f.writeRepo("privileged", `services:\n  web:\n${image}    privileged: true\n  db:\n${image}    network_mode: host\n    cap_add: [SYS_ADMIN]\n`),
        /service 'web': privileged: true is not allowed; service 'db': cap_add: \[SYS_ADMIN\] is not allowed; service 'db': network_mode: host is not allowed \(profile\.compose-test allows: none\)/,
      ],
      [
        f.writeRepo("bind-root", `services:\n  app:\n${image}    volumes: ["/:/host", "../../..:/up"]\n`),
        /service 'app': volumes: bind mount '\/' is an absolute path on the host.*bind mount '\.\.\/\.\.\/\.\.' resolves outside/,
      ],
      [symlinked, /service 'app': volumes: bind mount '\.\/hostroot' resolves outside the stack directory/],
      [interpolated, /service 'app': privileged: true is not allowed/],
    ];
    const sessions = f.host1.sessions() + f.host2.sessions();
    for (const [repo, message] of stacks) {
      const r = await cli.run(["create", "--profile", "profile.compose-test", "--input", `repo=${repo}`, "--json"], env, { timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(4);
      expect(r.stdout).toBe("");
      const err = errorOf(r.stderr);
      expect(err.code).toBe("SBX_POLICY_DENIED");
      expect(err.message).toMatch(message);
      expect(err.message).not.toContain(f.dir);
    }
    const list = await cli.run(["list", "--all", "--json"], env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.json<unknown[]>()).toEqual([]);
    // Refused before placement: not one SSH session, so nothing on either host.
    expect(f.host1.sessions() + f.host2.sessions()).toBe(sessions);
    expect(existsSync(root)).toBe(false);
    expect(sbxDirs(f.workspaceRoot("sbx-test-host2"))).toEqual([]);
    expect(labelled()).toEqual([]);
  });

  it("an allowed stack with a named volume and a bind inside the stack comes up, in a fresh 0700 root", async () => {
    const root = join(f.dir, "fresh", "stacks");
    const env = withRoot("fresh", root);
    const repo = f.writeRepo(
      "allowed",
      `services:\n  app:\n    image: ${TEST_IMAGE}\n    command: ["sleep", "3600"]\n    volumes: ["./data:/data:ro", "state:/state"]\n    security_opt: ["no-new-privileges:true"]\nvolumes:\n  state: {}\n`,
    );
    mkdirSync(join(repo, "data"));
    writeFileSync(join(repo, "data", "hello.txt"), "hello from inside the stack\n");
    const r = await cli.run(["create", "--profile", "profile.compose-test", "--host", "sbx-test-host", "--input", `repo=${repo}`, "--json"], env, {
      timeoutMs: 240_000,
    });
    expect(r.code, r.stderr).toBe(0);
    const sb = r.json<{ id: string; state: string; reachability: { workspace: string } }>();
    expect(sb.state).toBe("ready");
    expect(sb.reachability.workspace).toBe(join(root, sb.id));
    expect(statSync(root).mode & 0o777).toBe(0o700);
    const read = await cli.run(["exec", sb.id, "--", "sh", "-c", "cat /data/hello.txt && echo kept > /state/f && cat /state/f"], env);
    expect(read.code, read.stderr).toBe(0);
    expect(read.stdout).toBe("hello from inside the stack\nkept\n");
    const gone = await cli.run(["destroy", sb.id, "--json"], env, { timeoutMs: 120_000 });
    expect(gone.code, gone.stderr).toBe(0);
    expect(sbxDirs(root)).toEqual([]);
    expect(f.containersOf(sb.id)).toEqual([]);
  });

  it("a workspace root owned by another user, or writable by others, is refused naming the host and the path", async () => {
    const foreign = join(f.dir, "foreign-root");
    mkdirSync(foreign);
    chownSync(foreign, NOBODY, NOBODY);
    const open = join(f.dir, "open-root");
    mkdirSync(open);
    chmodSync(open, 0o777);
    const cases: [string, RegExp][] = [
      [foreign, new RegExp(`host 'sbx-test-host': workspace root ${foreign} is owned by uid ${NOBODY}, not by root \\(uid 0\\): refusing to use it`)],
      [open, new RegExp(`host 'sbx-test-host': workspace root ${open} is writable by other users \\(drwxrwxrwx\\)`)],
    ];
    for (const [root, message] of cases) {
      const env = withRoot(root.endsWith("foreign-root") ? "foreign" : "open", root);
      const r = await cli.run(["create", "--profile", "profile.compose-test", "--host", "sbx-test-host", "--input", `repo=${f.repo}`, "--json"], env, {
        timeoutMs: 120_000,
      });
      expect(r.code, r.stderr).toBe(1);
      const err = errorOf(r.stderr);
      expect(err.code).toBe("SBX_PROVISION_FAILED");
      expect(err.message).toMatch(message);
      // Nothing was placed in the refused root, nothing started, and the record says failed.
      expect(readdirSync(root)).toEqual([]);
      expect(labelled()).toEqual([]);
      const list = await cli.run(["list", "--all", "--json"], env);
      const rec = list.json<{ state: string; error: { code: string; message: string } | null }[]>().find((s) => s.error?.message.includes(root));
      expect(rec).toMatchObject({ state: "failed", error: { code: "SBX_PROVISION_FAILED" } });
    }
  });

  it("with no workspaceRoot configured, the root is in the SSH user's home, made 0700 by us", async () => {
    const env = withRoot("home", join(f.dir, "unused"));
    const r = await cli.run(["create", "--profile", "profile.sandbox-canary", "--host", "sbx-home-host", "--json"], env, { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const sb = r.json<{ id: string; reachability: { workspace: string; facts: { workspaceRootExists: boolean } } }>();
    const stacks = join(sshHome(), ".local", "share", "sandboxer", "stacks");
    expect(sb.reachability.workspace).toBe(join(stacks, sb.id));
    expect(sb.reachability.facts.workspaceRootExists).toBe(true);
    expect(statSync(stacks).mode & 0o777).toBe(0o700);
    const gone = await cli.run(["destroy", sb.id, "--json"], env, { timeoutMs: 60_000 });
    expect(gone.code, gone.stderr).toBe(0);
    expect(sbxDirs(stacks)).toEqual([]);
  });

  it("compose interpolates with the stack's .env only: a host variable cannot turn a checked bind into another", async () => {
    const env = withRoot("evil", join(f.dir, "unused"));
    const repo = f.writeRepo(
      "host-var",
      `services:\n  app:\n    image: ${TEST_IMAGE}\n    command: ["sleep", "3600"]\n    volumes: ["\${EVIL:-./data}:/data:ro"]\n    environment: { SEEN: "\${EVIL:-unset}" }\n`,
    );
    mkdirSync(join(repo, "data"));
    writeFileSync(join(repo, "data", "mine.txt"), "the stack's own data\n");
    const r = await cli.run(["create", "--profile", "profile.compose-home", "--input", `repo=${repo}`, "--json"], env, { timeoutMs: 240_000 });
    expect(r.code, r.stderr).toBe(0);
    const sb = r.json<{ id: string }>();
    const seen = await cli.run(["exec", sb.id, "--", "sh", "-c", 'echo "$SEEN"; ls /data'], env);
    expect(seen.code, seen.stderr).toBe(0);
    expect(seen.stdout).toBe("unset\nmine.txt\n");
    const gone = await cli.run(["destroy", sb.id, "--json"], env, { timeoutMs: 120_000 });
    expect(gone.code, gone.stderr).toBe(0);
  });

  it("a restore checks the snapshot's own stack: a workspace rewritten inside a sandbox cannot smuggle privileged in", async () => {
    const broker = home.broker();
    try {
      // A tenant's local sandbox can write its workspace, which is what a snapshot carries.
      const local = await broker.create({ profile: "profile.local", inputs: { repo: f.repo } });
      const evil = `services:\n  app:\n    image: ${TEST_IMAGE}\n    command: ["sleep", "3600"]\n    privileged: true\n    volumes: ["/:/host"]\n`;
      const w = await broker.exec(local.id, ["sh", "-c", 'printf "%s" "$1" > compose.yaml', "sh", evil], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
      expect(w.exitCode, w.stderr).toBe(0);
      const snap = await broker.snapshot(local.id);
      await broker.destroy(local.id);
      const sessions = f.host1.sessions();
      const err = await broker.restore(snap.id, { profile: "profile.compose-test", inputs: { repo: f.repo }, host: "sbx-test-host" }).then(
        () => {
          throw new Error("expected a refusal");
        },
        (e: unknown) => e as { code: string; message: string; details: { id?: string } },
      );
      expect(err.code).toBe("SBX_POLICY_DENIED");
      expect(err.message).toMatch(/service 'app': privileged: true is not allowed; service 'app': volumes: bind mount '\/' is an absolute path on the host/);
      // Refused before the host was touched: no session beyond placement's, no workspace, no container.
      expect(f.host1.sessions() - sessions).toBeLessThanOrEqual(1);
      expect(sbxDirs(f.workspaceRoot("sbx-test-host"))).toEqual([]);
      expect(labelled()).toEqual([]);
      const rec = (await broker.list({ states: ["failed"] })).find((s) => s.error?.code === "SBX_POLICY_DENIED");
      expect(rec?.state).toBe("failed");
    } finally {
      await broker.close();
    }
  });
});
