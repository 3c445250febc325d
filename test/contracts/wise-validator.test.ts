/**
 * wise-validator's flow, exactly as docs/integrations/wise-validator.md gives
 * it, through the CLI's JSON: create a compose stack (profile.compose-e2e on an
 * inventory host that is a loopback sshd with podman-compose), ssh to
 * `reachability.remote_dir` with `reachability.ssh_target`, run the test
 * command there, destroy. A change that moves or renames what it reads fails here.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/api/app.js";
import { RemoteReachability, SandboxRecord } from "../../src/api/schemas.js";
import { createBroker } from "../../src/broker.js";
import { shellQuote } from "../../src/transport/quote.js";
import type { Sandbox } from "../../src/types.js";
import { type PodmanFixture, podmanAvailable, startPodman, TEST_IMAGE } from "../fixtures/podman.js";
import { type Sshd, startSshd } from "../fixtures/sshd.js";
import { runCli } from "../helpers/cli.js";
import { recordExample } from "./examples.js";

const STACK = `services:
  web:
    image: ${TEST_IMAGE}
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    ports: ["127.0.0.1::8080"]
    stop_signal: SIGKILL
`;

interface Reach {
  remote_dir: string;
  workspace: string;
  ssh_target: { host: string; user: string | null; port: number | null; alias: string; argv: string[]; command: string };
  urls: string[];
}

/** What wise-validator does after `create`: its test_command, over SSH, in remote_dir. */
function runTestCommand(reach: Reach, testCommand: string): { status: number | null; stdout: string; stderr: string } {
  const [ssh, ...args] = reach.ssh_target.argv;
  const r = spawnSync(ssh as string, [...args, `cd ${shellQuote(reach.remote_dir)} && ${testCommand}`], { encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const skip = podmanAvailable();
describe.skipIf(skip)("wise-validator: create a compose stack, run test_command over SSH in remote_dir, destroy", { timeout: 300_000 }, () => {
  let podman: PodmanFixture;
  let sshd: Sshd;
  let dir: string;
  let env: Record<string, string>;
  let repo: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sbx-wv-"));
    podman = await startPodman();
    sshd = await startSshd({ alias: "sbx-wv-host", setEnv: podman.env });
    // profile.compose-e2e places on sandboxer01, then coulombcore: here both are the loopback host.
    writeFileSync(
      join(dir, "config.yaml"),
      [
        "hosts:",
        `  sandboxer01: { ssh: { host: sbx-wv-host }, compose: podman-compose, workspaceRoot: ${join(dir, "srv")} }`,
        `  coulombcore: { ssh: { host: sbx-wv-host }, compose: podman-compose, workspaceRoot: ${join(dir, "srv2")} }`,
        "",
      ].join("\n"),
    );
    repo = join(dir, "app");
    mkdirSync(join(repo, "tests"), { recursive: true });
    writeFileSync(join(repo, "compose.yaml"), STACK);
    writeFileSync(join(repo, "tests", "smoke.sh"), 'test -f compose.yaml && echo "smoke passed in $(pwd)"\n');
    env = {
      ...(process.env as Record<string, string>),
      SANDBOXER_HOME: join(dir, "home"),
      SANDBOXER_CONFIG: join(dir, "config.yaml"),
      SANDBOXER_SSH_CONFIG: sshd.configFile,
      SANDBOXER_COMPOSE_CMD: "",
      SANDBOXER_STATE_HUB_URL: "",
      SANDBOXER_HOST: "",
      SANDBOXER_URL: "",
    };
  });

  afterAll(async () => {
    // Whatever a failed assertion left: destroy it through the CLI, then stop the fixtures.
    if (env) {
      const left = await runCli(["list", "--json"], env);
      for (const sb of left.code === 0 ? left.json<Sandbox[]>() : []) await runCli(["destroy", sb.id], env);
    }
    await sshd?.stop();
    await podman?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("reaches remote_dir with ssh_target (sand-boxer's argv, and the consumer's own ssh with user/host/port)", async () => {
    const created = await runCli(
      ["create", "--profile", "profile.compose-e2e", "--input", `repo=${repo}`, "--actor", "atm", "--project", "wv", "--json"],
      env,
      { timeoutMs: 240_000 },
    );
    expect(created.stderr).toBe("");
    expect(created.code).toBe(0);
    const sb = SandboxRecord.parse(created.json());
    expect([sb.state, sb.host, sb.extension]).toEqual(["ready", "sandboxer01", "ext.compose-ssh"]);
    const reach = RemoteReachability.parse(sb.reachability) as unknown as Reach;
    expect(reach.remote_dir).toBe(join(dir, "srv", sb.id));
    expect(reach.workspace).toBe(reach.remote_dir);
    expect(reach.ssh_target).toMatchObject({ host: "127.0.0.1", user: "root", port: sshd.port, alias: "sbx-wv-host" });
    recordExample("wise-validator-create", sb);

    // The test command runs in remote_dir; its output and exit code are the consumer's.
    const ok = runTestCommand(reach, "sh tests/smoke.sh");
    expect([ok.status, ok.stdout]).toEqual([0, `smoke passed in ${reach.remote_dir}\n`]);
    const failing = runTestCommand(reach, "sh -c 'echo failing >&2; exit 3'");
    expect([failing.status, failing.stderr]).toEqual([3, "failing\n"]);
    // The stack it tests is up, at the URL the record gives.
    const probe = runTestCommand(reach, `wget -q -O - ${shellQuote(reach.urls[0] as string)} 2>/dev/null || curl -fsS ${shellQuote(reach.urls[0] as string)}`);
    expect(probe.stdout).toContain("sandboxer test");

    // A consumer with its own ssh client and key, from user/host/port alone (no sand-boxer ssh_config).
    const own = spawnSync(
      "ssh",
      [
        "-o",
        "BatchMode=yes",
        "-o",
        `UserKnownHostsFile=${sshd.knownHosts}`,
        "-o",
        "HostKeyAlias=sbx-wv-host",
        "-i",
        sshd.clientKey,
        "-p",
        String(reach.ssh_target.port),
        "-l",
        reach.ssh_target.user ?? "",
        reach.ssh_target.host,
        `cd ${shellQuote(reach.remote_dir)} && ls compose.yaml`,
      ],
      { encoding: "utf8", timeout: 60_000 },
    );
    expect([own.status, own.stdout]).toEqual([0, "compose.yaml\n"]);

    // The same record through the API with a tenant token of the project: remote_dir and where
    // to log in stay, this server's ssh_config path does not.
    const token = (await runCli(["tokens", "create", "--actor", "atm", "--project", "wv", "--json"], env)).json<{ token: string }>().token;
    const broker = createBroker({ env });
    const api = createApp(broker, { accessLog: () => {} });
    try {
      const res = await api.app.request(`/v1/sandboxes/${sb.id}`, { headers: { authorization: `Bearer ${token}` } });
      const seen = SandboxRecord.parse(await res.json());
      expect(seen.reachability).toMatchObject({
        remote_dir: reach.remote_dir,
        ssh_target: { host: "127.0.0.1", user: "root", port: sshd.port, alias: "sbx-wv-host" },
      });
      expect(seen.reachability?.ssh_target).not.toHaveProperty("argv");
      expect(JSON.stringify(seen)).not.toContain(sshd.configFile);
      recordExample("wise-validator-tenant-view", seen);
    } finally {
      await api.shutdown();
      await broker.close();
    }

    const destroyed = await runCli(["destroy", sb.id, "--json"], env, { timeoutMs: 120_000 });
    expect(destroyed.code).toBe(0);
    const gone = SandboxRecord.parse(destroyed.json());
    expect([gone.state, gone.reason]).toEqual(["destroyed", "user"]);
    recordExample("wise-validator-destroy", gone);
    // Nothing left where the tests ran.
    expect(runTestCommand({ ...reach, remote_dir: "/" }, `test ! -e ${shellQuote(reach.remote_dir)}`).status).toBe(0);
  });

  it("a profile or input it gets wrong is exit 2 with {error:{code,message}} naming the field, and creates nothing", async () => {
    const r = await runCli(["create", "--profile", "profile.compose-e2e", "--input", `repo=${join(dir, "no-such-repo")}`, "--json"], env);
    expect(r.code).toBe(2);
    const err = JSON.parse(r.stderr) as { error: { code: string; message: string } };
    expect(err.error.code).toMatch(/^SBX_INPUT_/);
    expect(err.error.message).toMatch(/repo/);
    recordExample("wise-validator-error", err);
    const unknown = await runCli(["create", "--profile", "profile.nope", "--json"], env);
    expect([unknown.code, (JSON.parse(unknown.stderr) as { error: { code: string } }).error.code]).toEqual([2, "SBX_PROFILE_NOT_FOUND"]);
  });
});
