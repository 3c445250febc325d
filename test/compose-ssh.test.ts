import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testExtension } from "./extension-contract.js";
import { type ComposeEnv, startComposeEnv } from "./helpers/compose-env.js";
import { runCli } from "./helpers/cli.js";
import { makeHome, type TestHome } from "./helpers/home.js";

let shared: Promise<ComposeEnv> | undefined;
const fixtures = () => {
  shared ??= startComposeEnv();
  return shared;
};
afterAll(async () => {
  if (shared) await (await shared).stop();
});

testExtension({
  name: "ext.compose-ssh",
  make: async () => {
    const f = await fixtures();
    return { home: makeHome(f.env), request: { profile: "profile.compose-test", inputs: { repo: f.repo } } };
  },
});

// Real podman-compose over SSH on two shared cores: generous per-test limits (no timing assertions).
describe("ext.compose-ssh on loopback sshd + podman-compose", { timeout: 240_000 }, () => {
  let f: ComposeEnv;
  let home: TestHome;
  beforeAll(async () => {
    f = await fixtures();
    home = makeHome(f.env);
  });
  afterAll(async () => {
    await home?.cleanup();
  });

  it("creates over ONE ssh handshake, labels every container, reports ports and URLs", async () => {
    const broker = home.broker();
    const before = f.host1.handshakes();
    const sb = await broker.create({ profile: "profile.compose-test", inputs: { repo: f.repo } });
    expect(f.host1.handshakes() - before).toBe(1);
    expect(sb.host).toBe("sbx-test-host");
    const names = f.containersOf(sb.id);
    expect(names.length).toBe(2);
    const r = sb.reachability as { services: Record<string, { state: string; health: string | null }>; urls: string[]; workspace: string };
    expect(r.services.web?.health).toBe("healthy");
    expect(r.urls[0]).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const page = await fetch(r.urls[0] as string).then((x) => x.text());
    expect(page).toContain("sandboxer test");
    expect(r.workspace).toBe(join(f.workspaceRoot("sbx-test-host"), sb.id));
    await broker.destroy(sb.id);
    expect(f.containersOf(sb.id)).toEqual([]);
    expect(existsSync(r.workspace)).toBe(false);
    await broker.close();
  });

  it("copies the repo's tree and starts the stack in ONE ssh session; a lone compose_file copies only itself", async () => {
    const broker = home.broker();
    const repo = f.writeRepo("tree", `services:\n  app:\n    image: ${f.podman.image}\n    command: ["sleep", "3600"]\n    stop_signal: SIGKILL\n`);
    mkdirSync(join(repo, "src", "deep"), { recursive: true });
    writeFileSync(join(repo, "src", "deep", "data.txt"), "nested bytes\n");
    writeFileSync(join(repo, ".env.example"), "A=1\n");
    writeFileSync(join(repo, "run.sh"), "#!/bin/sh\necho hi\n", { mode: 0o755 });
    symlinkSync("src/deep/data.txt", join(repo, "link"));
    const [handshakes, sessions] = [f.host1.handshakes(), f.host1.sessions()];
    const sb = await broker.create({ profile: "profile.compose-test", host: "sbx-test-host", inputs: { repo } });
    // One connection, and one session that both unpacked the tree and ran `up` (whose `ps` showed it ready).
    expect([f.host1.handshakes() - handshakes, f.host1.sessions() - sessions]).toEqual([1, 1]);
    const ws = join(f.workspaceRoot("sbx-test-host"), sb.id);
    expect(readFileSync(join(ws, "src", "deep", "data.txt"), "utf8")).toBe("nested bytes\n");
    expect(readFileSync(join(ws, ".env.example"), "utf8")).toBe("A=1\n");
    expect(statSync(join(ws, "run.sh")).mode & 0o777).toBe(0o755);
    expect(readlinkSync(join(ws, "link"))).toBe("src/deep/data.txt");
    expect(readFileSync(join(ws, ".sandboxer", "compose.override.yaml"), "utf8")).toContain(`sandboxer.id: ${sb.id}`);
    expect(f.containersOf(sb.id).length).toBe(1);
    await broker.destroy(sb.id);

    const single = await broker.create({ profile: "profile.compose-test", host: "sbx-test-host", inputs: { compose_file: join(repo, "compose.yaml") } });
    const ws2 = join(f.workspaceRoot("sbx-test-host"), single.id);
    expect(readdirSync(ws2).sort()).toEqual([".sandboxer", "compose.yaml"]);
    await broker.destroy(single.id);
    await broker.close();
  });

  it("a workspace root the host cannot create fails clearly, starts nothing, keeps a true record", async () => {
    const broker = home.broker();
    const root = f.workspaceRoot("sbx-test-host2");
    const aside = `${root}.aside`;
    if (existsSync(root)) renameSync(root, aside);
    writeFileSync(root, "a file where the workspace root should be\n");
    try {
      const err = await broker.create({ profile: "profile.compose-test", host: "sbx-test-host2", inputs: { repo: f.repo } }).then(
        () => {
          throw new Error("expected a failure");
        },
        (e: unknown) => e as { code: string; message: string; details: { id: string } },
      );
      expect(err.code).toBe("SBX_PROVISION_FAILED");
      expect(err.message).toMatch(/host 'sbx-test-host2': workspace root .*ws2 is not a directory/);
      expect((await broker.get(err.details.id)).state).toBe("failed");
      expect(f.containersOf(err.details.id)).toEqual([]);
    } finally {
      rmSync(root, { force: true });
      if (existsSync(aside)) renameSync(aside, root);
      await broker.close();
    }
  });

  it("exec runs argv in a service's container over the host's master: exit codes, quoting, --service, clear errors", async () => {
    const broker = home.broker();
    const sb = await broker.create({ profile: "profile.compose-test", host: "sbx-test-host", inputs: { repo: f.repo } });
    const pipe = { stdin: "ignore", stdout: "pipe", stderr: "pipe" } as const;
    const r = await broker.exec(sb.id, ["sh", "-c", "echo out; echo err >&2; exit 3"], pipe);
    expect([r.exitCode, r.stdout, r.stderr]).toEqual([3, "out\n", "err\n"]);
    const q = await broker.exec(sb.id, ["printf", "%s|", "a b", "it's", "$HOME", "x;y", "`id`"], pipe);
    expect(q.stdout).toBe("a b|it's|$HOME|x;y|`id`|");
    // Default: the first running service in compose-file order (web runs httpd); --service picks another.
    const pid1 = (o: { service?: string }) => broker.exec(sb.id, ["cat", "/proc/1/cmdline"], pipe, o).then((x) => x.stdout ?? "");
    expect(await pid1({})).toContain("httpd");
    expect(await pid1({ service: "worker" })).toContain("sleep");
    await expect(broker.exec(sb.id, ["true"], pipe, { service: "nope" })).rejects.toMatchObject({ code: "SBX_INPUT_INVALID", details: { field: "service" } });
    await expect(broker.exec(sb.id, ["true"], pipe, { service: "bad name" })).rejects.toMatchObject({ code: "SBX_INPUT_INVALID" });
    // Through the CLI, as an agent would call it.
    const cli = await runCli(["exec", sb.id, "--service", "worker", "--json", "--", "sh", "-c", "echo hi; exit 4"], home.env);
    expect(cli.code).toBe(4);
    expect(JSON.parse(cli.stdout)).toMatchObject({ id: sb.id, exitCode: 4, stdout: "hi\n", stderr: "", truncated: false });
    // The container stopped behind our back: a clear state error, not a mystery 125.
    const worker = f.containersOf(sb.id).find((n) => n.includes("worker")) as string;
    f.podman.podman(["stop", "-t", "0", worker]);
    await expect(broker.exec(sb.id, ["true"], pipe, { service: "worker" })).rejects.toMatchObject({ code: "SBX_INVALID_STATE" });
    await broker.destroy(sb.id);
    await broker.close();
  });

  it("skips an unreachable host when placement allows another, and records why", async () => {
    const broker = home.broker();
    const sb = await broker.create({ profile: "profile.compose-fallback", inputs: { repo: f.repo } });
    expect(sb.host).toBe("sbx-test-host2");
    expect(sb.route?.rejected).toEqual(
      expect.arrayContaining([expect.objectContaining({ extension: "ext.compose-ssh@sbx-down", why: expect.stringMatching(/unreachable/) })]),
    );
    await broker.destroy(sb.id);
    const n = (await broker.list({})).length;
    await expect(broker.create({ profile: "profile.compose-fallback", inputs: { repo: f.repo }, host: "sbx-down" })).rejects.toMatchObject({
      code: "SBX_HOST_UNREACHABLE",
    });
    expect((await broker.list({})).length).toBe(n);
    await broker.close();
  });

  it("refuses bad repo paths at plan time, before any record", async () => {
    const broker = home.broker();
    const n = (await broker.list({})).length;
    const bad: { inputs: Record<string, string>; field: string }[] = [
      { inputs: { repo: join(f.dir, "no-such-dir") }, field: "repo" },
      { inputs: { repo: f.repo, compose_file: "missing.yaml" }, field: "compose_file" },
      { inputs: { repo: f.repo, compose_file: "../good/compose.yaml" }, field: "compose_file" },
      { inputs: { repo: f.writeRepo("empty-stack", "services: {}\n") }, field: "compose_file" },
      { inputs: { repo: f.writeRepo("broken-yaml", "services: [\n") }, field: "compose_file" },
    ];
    for (const b of bad) {
      await expect(broker.create({ profile: "profile.compose-test", inputs: b.inputs })).rejects.toMatchObject({
        code: "SBX_INPUT_INVALID",
        details: { field: b.field },
      });
    }
    expect((await broker.list({})).length).toBe(n);
    await expect(broker.create({ profile: "profile.compose-test", inputs: {} })).rejects.toMatchObject({ code: "SBX_INPUT_MISSING" });
    await broker.close();
  });

  it("the canary targets an SSH host: probe mode records the host's facts", async () => {
    const broker = home.broker();
    const sb = await broker.create({ profile: "profile.sandbox-canary", host: "sbx-test-host" });
    expect(sb.extension).toBe("ext.compose-ssh");
    const r = sb.reachability as { kind: string; workspace: string; facts: Record<string, unknown> };
    expect(r.kind).toBe("host-probe");
    expect(r.facts.kernel).toBeTruthy();
    expect(r.facts.runtimeOk).toBe(true);
    expect(Number(r.facts.cpus)).toBeGreaterThan(0);
    expect(sb.hostFacts).toMatchObject({ kernel: r.facts.kernel, cpus: r.facts.cpus });
    expect(existsSync(r.workspace)).toBe(true);
    await broker.destroy(sb.id);
    expect(existsSync(r.workspace)).toBe(false);
    await broker.close();
  });

  it("a service that exits fails the create at once, with its log tail, and leaves nothing", async () => {
    const broker = home.broker();
    const repo = f.writeRepo("crashing", `services:\n  app:\n    image: ${f.podman.image}\n    command: ["sh", "-c", "echo boom-from-app; exit 3"]\n`);
    const err = await broker.create({ profile: "profile.compose-test", inputs: { repo } }).then(
      () => {
        throw new Error("expected a failure");
      },
      (e: unknown) => e as { code: string; message: string; details: { id: string } },
    );
    expect(err).toMatchObject({ code: "SBX_PROVISION_FAILED" });
    expect(err.message).toMatch(/exited with code 3/);
    expect(err.message).toContain("boom-from-app");
    const rec = await broker.get(err.details.id);
    expect(rec.state).toBe("failed");
    expect(f.containersOf(rec.id)).toEqual([]);
    expect(existsSync(join(f.workspaceRoot("sbx-test-host"), rec.id))).toBe(false);
    await broker.close();
  });

  it("a service that cannot start (its published port is taken) fails the create at once, in the engine's words", async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", () => r()));
    const port = (taken.address() as AddressInfo).port;
    const broker = home.broker();
    try {
      const repo = f.writeRepo(
        "port-taken",
        `services:\n  web:\n    image: ${f.podman.image}\n    command: ["sleep", "3600"]\n    ports: ["127.0.0.1:${port}:8080"]\n  other:\n    image: ${f.podman.image}\n    command: ["sleep", "3600"]\n`,
      );
      const err = await broker.create({ profile: "profile.compose-test", inputs: { repo } }).then(
        () => {
          throw new Error("expected a failure");
        },
        (e: unknown) => e as { code: string; message: string; details: { id: string } },
      );
      expect(err.code).toBe("SBX_PROVISION_FAILED");
      expect(err.message).toMatch(/service 'web' could not start \(`podman-compose up` reported exit 125\)/);
      expect(err.message).toMatch(new RegExp(`127\\.0\\.0\\.1:${port}: bind: address already in use`));
      const rec = await broker.get(err.details.id);
      expect(rec.state).toBe("failed");
      // Failed from the `up` transcript: the readiness wait never started.
      expect((await broker.events({ sandboxId: rec.id })).filter((e) => String(e.data.message ?? "").startsWith("waiting:"))).toEqual([]);
      expect(f.containersOf(rec.id)).toEqual([]);
    } finally {
      taken.close();
      await broker.close();
    }
  });

  it("a service that never becomes healthy times out -> teardown -> failed with the logs' tail", async () => {
    const broker = home.broker();
    const repo = f.writeRepo(
      "never-ready",
      `services:\n  app:\n    image: ${f.podman.image}\n    command: ["sh", "-c", "echo still-starting; sleep 3600"]\n    healthcheck:\n      test: ["CMD", "false"]\n      interval: 1s\n`,
    );
    const err = await broker.create({ profile: "profile.compose-short", inputs: { repo } }).then(
      () => {
        throw new Error("expected a failure");
      },
      (e: unknown) => e as { code: string; message: string; details: { id: string } },
    );
    expect(err).toMatchObject({ code: "SBX_READY_TIMEOUT" });
    expect(err.message).toContain("still-starting");
    expect(err.message).toMatch(/--- \S+_app_1 \(running\)\nstill-starting/);
    const rec = await broker.get(err.details.id);
    expect(rec.state).toBe("failed");
    expect(rec.error?.code).toBe("SBX_READY_TIMEOUT");
    expect(f.containersOf(rec.id)).toEqual([]);
    await broker.close();
  });
});
