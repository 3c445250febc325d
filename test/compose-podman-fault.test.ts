import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type PodmanFixture, startPodman } from "./fixtures/podman.js";
import { type Sshd, startSshd } from "./fixtures/sshd.js";
import { makeHome, type TestHome } from "./helpers/home.js";

// podman's default nofile ulimit (1048576) fails on hosts whose hard limit is lower (the CI machine: 20000).
const hardLimit = Number(execFileSync("sh", ["-c", "ulimit -Hn"], { encoding: "utf8" }).trim());
const reproducible = Number.isFinite(hardLimit) && hardLimit < 1048576;

describe.skipIf(!reproducible)("podman that cannot start containers: the error explains why", { timeout: 240_000 }, () => {
  let podman: PodmanFixture;
  let sshd: Sshd;
  let home: TestHome;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sbx-pfault-"));
    podman = await startPodman({ ulimits: false });
    sshd = await startSshd({ setEnv: podman.env });
    writeFileSync(join(dir, "config.yaml"), `hosts:\n  sbx-test-host: { compose: podman-compose, workspaceRoot: ${join(dir, "ws")} }\n`);
    mkdirSync(join(dir, "profiles"));
    writeFileSync(
      join(dir, "profiles", "profile.compose-test.yaml"),
      "id: profile.compose-test\nversion: 1\nextension: ext.compose-ssh\nplacement: { hosts: [sbx-test-host] }\ntimeout: 90s\nsettings: { stopTimeoutSeconds: 1 }\ninputs:\n  repo: { type: path }\n",
    );
    mkdirSync(join(dir, "repo"));
    writeFileSync(join(dir, "repo", "compose.yaml"), `services:\n  app:\n    image: ${podman.image}\n    command: ["sleep", "3600"]\n`);
    home = makeHome({
      SANDBOXER_CONFIG: join(dir, "config.yaml"),
      SANDBOXER_PROFILES_DIR: join(dir, "profiles"),
      SANDBOXER_SSH_CONFIG: sshd.configFile,
      SANDBOXER_COMPOSE_CMD: "",
    });
  });
  afterAll(async () => {
    await home?.cleanup();
    await sshd?.stop();
    await podman?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("fails with SBX_PROVISION_FAILED naming the ulimits, and leaves nothing", async () => {
    const broker = home.broker();
    const err = await broker.create({ profile: "profile.compose-test", inputs: { repo: join(dir, "repo") } }).then(
      () => null,
      (e: unknown) => e as { code: string; message: string; details: { id: string } },
    );
    expect(err).toMatchObject({ code: "SBX_PROVISION_FAILED" });
    expect(err?.message).toMatch(/default ulimits \(nofile\/nproc\) exceed the host's hard limit/);
    const id = err?.details.id as string;
    expect((await broker.get(id)).state).toBe("failed");
    expect(podman.podman(["ps", "-a", "--filter", `label=sandboxer.id=${id}`, "--format", "{{.Names}}"]).trim()).toBe("");
    await broker.close();
  });
});
