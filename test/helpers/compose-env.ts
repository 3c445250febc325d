/**
 * Shared setup for compose-ssh tests: a private podman, two loopback sshd
 * hosts whose sessions see the podman config, a hosts inventory with one
 * unreachable host, a test profile, and a tiny compose repo.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Env } from "../../src/config.js";
import { type PodmanFixture, startPodman, TEST_IMAGE } from "../fixtures/podman.js";
import { freePort, type Sshd, startSshd } from "../fixtures/sshd.js";

export interface ComposeEnv {
  dir: string;
  podman: PodmanFixture;
  host1: Sshd;
  host2: Sshd;
  /** Env for brokers / the CLI (merge into makeHome's). */
  env: Env;
  /** A repo with a healthy two-service stack. */
  repo: string;
  /** Write a repo whose compose file is `yaml`; returns its path. */
  writeRepo(name: string, yaml: string): string;
  workspaceRoot(host: "sbx-test-host" | "sbx-test-host2"): string;
  /** Container names labelled with this sandbox id (via the fixture's podman). */
  containersOf(id: string): string[];
  stop(): Promise<void>;
}

export const GOOD_STACK = `services:
  web:
    image: ${TEST_IMAGE}
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    ports: ["127.0.0.1::8080"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
      interval: 2s
      retries: 3
  worker:
    image: ${TEST_IMAGE}
    command: ["sleep", "3600"]
`;

export async function startComposeEnv(): Promise<ComposeEnv> {
  const dir = mkdtempSync(join(tmpdir(), "sbx-compose-"));
  const podman = await startPodman();
  const host1 = await startSshd({ alias: "sbx-test-host", setEnv: podman.env });
  const host2 = await startSshd({ alias: "sbx-test-host2", setEnv: podman.env, sshConfig: host1.configFile });
  const ws = { "sbx-test-host": join(dir, "ws1"), "sbx-test-host2": join(dir, "ws2") };
  const downPort = await freePort();
  writeFileSync(
    join(dir, "config.yaml"),
    [
      "hosts:",
      `  sbx-test-host: { compose: podman-compose, workspaceRoot: ${ws["sbx-test-host"]}, labels: [compose] }`,
      `  sbx-test-host2: { compose: podman-compose, workspaceRoot: ${ws["sbx-test-host2"]}, labels: [compose] }`,
      `  sbx-down: { ssh: { host: 127.0.0.1, port: ${downPort} }, compose: podman-compose, workspaceRoot: ${join(dir, "ws-down")} }`,
      "",
    ].join("\n"),
  );
  const profiles = join(dir, "profiles");
  mkdirSync(profiles);
  const profile = (id: string, hosts: string[], timeout: string) =>
    writeFileSync(
      join(profiles, `${id}.yaml`),
      [
        `id: ${id}`,
        "version: 1",
        "extension: ext.compose-ssh",
        `placement: { hosts: [${hosts.join(", ")}], fallback: true }`,
        "ttl: { default: 1h, max: 2h }",
        `timeout: ${timeout}`,
        "settings: { stopTimeoutSeconds: 1 }",
        "inputs:",
        "  repo: { type: path }",
        "  compose_file: { type: path }",
        "",
      ].join("\n"),
    );
  profile("profile.compose-test", ["sbx-test-host", "sbx-test-host2"], "90s");
  profile("profile.compose-fallback", ["sbx-down", "sbx-test-host2"], "90s");
  profile("profile.compose-short", ["sbx-test-host"], "50s");
  const writeRepo = (name: string, yaml: string) => {
    const repo = join(dir, "repos", name);
    mkdirSync(repo, { recursive: true });
    writeFileSync(join(repo, "compose.yaml"), yaml);
    return repo;
  };
  const env: Env = {
    SANDBOXER_CONFIG: join(dir, "config.yaml"),
    SANDBOXER_PROFILES_DIR: profiles,
    SANDBOXER_SSH_CONFIG: host1.configFile,
    SANDBOXER_COMPOSE_CMD: "",
  };
  return {
    dir,
    podman,
    host1,
    host2,
    env,
    repo: writeRepo("good", GOOD_STACK),
    writeRepo,
    workspaceRoot: (h) => ws[h],
    containersOf: (id) =>
      podman
        .podman(["ps", "-a", "--filter", `label=sandboxer.id=${id}`, "--format", "{{.Names}}"])
        .split("\n")
        .filter(Boolean),
    async stop() {
      await host2.stop().catch(() => {});
      await host1.stop().catch(() => {});
      await podman.stop().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
