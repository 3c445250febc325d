/**
 * Build mode on an SSH placement host (a loopback sshd in the hosts inventory):
 * the build runs over SSH with live progress; when SSH drops mid-build the
 * record fails with a clear error.
 */
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { createBroker } from "../src/broker.js";
import { SandboxerError } from "../src/errors.js";
import { processesIn } from "./helpers/assert.js";
import { type Sshd, startSshd } from "./fixtures/sshd.js";
import { makeHome, type TestHome } from "./helpers/home.js";

const FIX = join(import.meta.dirname, "fixtures", "packer");

describe("ext.vm-packer build mode over SSH", () => {
  let sshd: Sshd;
  let home: TestHome;
  let work: string;
  const root = () => join(work, "root");

  beforeAll(async () => {
    sshd = await startSshd({ alias: "sbx-build-host" });
    work = mkdtempSync(join(tmpdir(), "sbx-pk-remote-"));
    home = makeHome({ SANDBOXER_SSH_CONFIG: sshd.configFile });
    writeFileSync(home.env.SANDBOXER_CONFIG as string, stringify({ hosts: { "build-host": { ssh: { host: sshd.alias }, workspaceRoot: root() } } }));
  });
  afterAll(async () => {
    await home?.cleanup();
    await sshd?.stop();
    for (const pid of processesIn(work)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    rmSync(work, { recursive: true, force: true });
  });

  it("runs validate and build on the host over SSH, progress streams back, artifacts recorded", async () => {
    const dir = mkdtempSync(join(work, "ok-"));
    cpSync(join(FIX, "ok"), dir, { recursive: true });
    const b = home.broker();
    const sb = await b.create({
      profile: "profile.vm-packer-build",
      host: "build-host",
      inputs: { packer_template: dir, vm_name: "remote", packer_var_greeting: "hi remote" },
    });
    expect(sb.host).toBe("build-host");
    // The value went over SSH in a var file (0600, removed after the build), not in argv; the record keeps none.
    expect(sb.inputs.packer_var_greeting).toBe("(secret)");
    expect(existsSync(join(root(), ".vm-packer", sb.id, "vars.pkrvars.hcl"))).toBe(false);
    expect(sb.reachability?.host).toBe("build-host");
    expect(existsSync(join(root(), ".vm-packer", sb.id, "packer.pgid"))).toBe(true);
    const progress = (await b.events({ sandboxId: sb.id })).map((e) => String(e.data.message ?? ""));
    // Packer's echo of the secret value reaches progress masked (src/extensions/vm-packer/redact.ts).
    expect(progress).toContain("file.image: (secret), a,b,c");
    expect(progress.join("\n")).not.toContain("hi remote");
    expect(existsSync(join(dir, "out", "remote.img"))).toBe(true);
    await b.destroy(sb.id);
    expect(existsSync(join(root(), ".vm-packer", sb.id))).toBe(false);
    expect(existsSync(join(dir, "out", "remote.img"))).toBe(true);
  });

  it("--host overrides a placement that names only localhost: the build runs on the named inventory host", async () => {
    const profiles = mkdtempSync(join(work, "profiles-"));
    writeFileSync(
      join(profiles, "profile.t-here.yaml"),
      stringify({
        id: "profile.t-here",
        version: 1,
        extension: "ext.vm-packer",
        mode: "build",
        placement: { hosts: ["localhost"] },
        inputs: { packer_template: { type: "path" } },
      }),
    );
    const dir = mkdtempSync(join(work, "ok-"));
    cpSync(join(FIX, "ok"), dir, { recursive: true });
    const b = createBroker({ env: { ...home.env, SANDBOXER_PROFILES_DIR: profiles } });
    try {
      const sb = await b.create({ profile: "profile.t-here", host: "build-host", inputs: { packer_template: dir } });
      expect(sb.host).toBe("build-host");
      expect(sb.route?.reason).toContain("on build-host by --host, overriding the placement (localhost)");
      expect(existsSync(join(root(), ".vm-packer", sb.id, "packer.pgid"))).toBe(true);
      await b.destroy(sb.id);
    } finally {
      await b.close();
    }
  });

  it("SSH dropping mid-build -> failed record with SBX_HOST_UNREACHABLE", async () => {
    const dir = mkdtempSync(join(work, "slow-"));
    cpSync(join(FIX, "slow"), dir, { recursive: true });
    let started = false;
    const b = home.broker({
      onProgress: (n) => {
        if (n.message.includes("started")) started = true;
      },
    });
    const pending = b.create({ profile: "profile.vm-packer-build", host: "build-host", inputs: { packer_template: dir } }).then(
      () => null,
      (err: unknown) => err,
    );
    const end = Date.now() + 30_000;
    while (!started && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    expect(started).toBe(true);
    await sshd.stop();
    const err = (await pending) as SandboxerError;
    expect(err).toBeInstanceOf(SandboxerError);
    expect(err.code).toBe("SBX_HOST_UNREACHABLE");
    expect(err.message).toMatch(/build-host/);
    const rec = await b.get(String(err.details?.id));
    expect(rec.state).toBe("failed");
    expect(rec.error?.code).toBe("SBX_HOST_UNREACHABLE");
  });
});
