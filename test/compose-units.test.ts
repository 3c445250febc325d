import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { composeCommand, labelOverride, resolveSource } from "../src/extensions/compose-ssh/compose.js";
import { explainStartFailure, parsePs, readiness } from "../src/extensions/compose-ssh/status.js";
import { engineErrors, failedStarts } from "../src/extensions/compose-ssh/up-errors.js";
import { controlDir } from "../src/transport/ssh.js";

const dir = mkdtempSync(join(tmpdir(), "sbx-cu-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("compose command selection", () => {
  const host = { name: "h", labels: [] };
  it("env wins over host, host over the default; flavors differ", () => {
    expect(composeCommand(host, {})).toMatchObject({ argv: ["docker", "compose"], flavor: "docker", cli: "docker" });
    expect(composeCommand({ ...host, compose: "podman-compose" }, {})).toMatchObject({ flavor: "podman", cli: "podman" });
    expect(composeCommand({ ...host, compose: "docker compose" }, { SANDBOXER_COMPOSE_CMD: "podman compose" })).toMatchObject({ flavor: "podman" });
    expect(() => composeCommand(host, { SANDBOXER_COMPOSE_CMD: "docker compose; rm -rf /" })).toThrow(/not a plain word/);
  });
});

describe("compose source checks", () => {
  const repo = join(dir, "repo");
  mkdirSync(repo);
  writeFileSync(join(repo, "docker-compose.yml"), "services:\n  a: { image: x }\n  b: { image: y, profiles: [debug] }\n");
  writeFileSync(join(dir, "outside.yaml"), "services:\n  z: { image: z }\n");
  symlinkSync(join(dir, "outside.yaml"), join(repo, "escape.yaml"));
  it("finds the default file and the services compose starts by default", () => {
    expect(resolveSource({ repo }, {})).toMatchObject({ file: "docker-compose.yml", services: ["a"], single: false });
  });
  it("a lone compose file is copied by itself", () => {
    expect(resolveSource({ compose_file: join(dir, "outside.yaml") }, {})).toMatchObject({ file: "outside.yaml", single: true, services: ["z"] });
  });
  it("refuses a compose file that resolves outside the repo", () => {
    expect(() => resolveSource({ repo, compose_file: "escape.yaml" }, {})).toThrow(/outside the repo/);
    expect(() => resolveSource({ repo, compose_file: "/etc/passwd" }, {})).toThrow(/relative to the repo/);
  });
  it("labels every service with the sandbox id", () => {
    expect(labelOverride("sbx-abcdefghijkl", ["a"])).toContain("sandboxer.id: sbx-abcdefghijkl");
  });
});

describe("status parsing and readiness", () => {
  const podman = JSON.stringify([
    {
      Id: "1",
      Names: ["p_web_1"],
      State: "running",
      Status: "Up 3 seconds ago (healthy)",
      Labels: { "com.docker.compose.service": "web", "sandboxer.id": "sbx-x" },
      Ports: [{ host_ip: "127.0.0.1", host_port: 4000, container_port: 80, protocol: "tcp" }],
    },
    { Id: "2", Names: ["p_db_1"], State: "running", Status: "Up 3 seconds ago (starting)", Labels: { "com.docker.compose.service": "db" }, Ports: null },
  ]);
  const docker = `{"ID":"3","Names":"p-web-1","State":"exited","Status":"Exited (2) 1 second ago","Labels":"com.docker.compose.service=web,sandboxer.id=sbx-x","Ports":""}\n`;
  it("reads podman's JSON array and docker's JSON lines", () => {
    const p = parsePs("podman", podman);
    expect(p[0]).toMatchObject({ service: "web", health: "healthy", ports: [{ hostIp: "127.0.0.1", hostPort: 4000, containerPort: 80 }] });
    expect(parsePs("docker", docker)[0]).toMatchObject({ service: "web", state: "exited", exitCode: 2, sandboxId: "sbx-x" });
  });
  it("waits on a starting healthcheck, fails on a non-zero exit, is ready when all run", () => {
    expect(readiness(["web", "db"], parsePs("podman", podman))).toMatchObject({ kind: "waiting", healthchecks: ["p_db_1"] });
    expect(readiness(["web"], parsePs("docker", docker))).toMatchObject({ kind: "failed", why: expect.stringMatching(/exited with code 2/) });
    expect(readiness(["web"], parsePs("podman", podman).slice(0, 1))).toEqual({ kind: "ready" });
    expect(readiness(["web", "migrate"], parsePs("podman", podman).slice(0, 1))).toMatchObject({ kind: "waiting", why: "migrate: no container yet" });
  });
  it("explains podman start failures seen on cgroup v1 hosts", () => {
    const rlimit =
      "Error: runc: runc create failed: unable to start container process: error during container init: error setting rlimits for ready process: error setting rlimit type 7: operation not permitted: OCI permission denied";
    expect(explainStartFailure(rlimit)).toMatch(/ulimits/);
    expect(explainStartFailure("Error: initializing source docker://x: pinging container registry localhost")).toMatch(/fully qualified/);
    expect(explainStartFailure("all good")).toBeNull();
  });
});

describe("ssh control sockets", () => {
  it("stay under the unix socket path limit", () => {
    expect(controlDir("/short/run")).toBe("/short/run/ssh");
    expect(controlDir(`/${"x".repeat(120)}/run`).length).toBeLessThan(60);
  });
});

describe("podman-compose up transcripts", () => {
  // Shapes podman-compose 1.0.3 prints (stdout) around each podman call, as captured on the loopback fixture.
  const run = (name: string) => `podman run --name=${name} -d --label sandboxer.id=sbx-aaaaaaaaaaaa --net sbx-aaaaaaaaaaaa_default localhost/x sleep 3600`;
  const table: [string, string, { container: string; exitCode: number }[]][] = [
    [
      "all started",
      `['podman', 'network', 'exists', 'n']\n${run("sbx-aaaaaaaaaaaa_web_1")}\nexit code: 0\n${run("sbx-aaaaaaaaaaaa_db_1")}\nexit code: 0\n`,
      [],
    ],
    [
      "run failed, start failed too",
      `${run("sbx-aaaaaaaaaaaa_web_1")}\nexit code: 126\npodman start sbx-aaaaaaaaaaaa_web_1\nexit code: 125\n${run("sbx-aaaaaaaaaaaa_db_1")}\nexit code: 0\n`,
      [{ container: "sbx-aaaaaaaaaaaa_web_1", exitCode: 125 }],
    ],
    ["run failed, the retried start worked", `${run("sbx-aaaaaaaaaaaa_web_1")}\nexit code: 126\npodman start sbx-aaaaaaaaaaaa_web_1\nexit code: 0\n`, []],
    [
      "the list form of an echoed command",
      `['podman', 'run', '--name=sbx-aaaaaaaaaaaa_x_1', '-d', 'img']\nexit code: 1\n`,
      [{ container: "sbx-aaaaaaaaaaaa_x_1", exitCode: 1 }],
    ],
  ];
  it.each(table)("%s", (_name, stdout, want) => {
    expect(failedStarts(stdout)).toEqual(want);
  });

  it("keeps the engine's own error lines, once each", () => {
    const stderr =
      '\nError: cannot listen on the TCP port: listen tcp4 127.0.0.1:1: bind: address already in use\nError: unable to start container "5": cannot listen\nError: cannot listen on the TCP port: listen tcp4 127.0.0.1:1: bind: address already in use\nnoise\n';
    expect(engineErrors(stderr)).toEqual([
      "Error: cannot listen on the TCP port: listen tcp4 127.0.0.1:1: bind: address already in use",
      'Error: unable to start container "5": cannot listen',
    ]);
  });
});
