import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sshTransport } from "../src/transport/ssh.js";
import type { Host } from "../src/types.js";
import { type Sshd, startSshd } from "./fixtures/sshd.js";

describe("SSH transport over a loopback sshd", () => {
  let sshd: Sshd;
  let dir: string;
  const host: Host = { name: "sbx-test-host", labels: [] };
  const env = () => ({ ...process.env, SANDBOXER_SSH_CONFIG: sshd.configFile });

  beforeAll(async () => {
    sshd = await startSshd({ setEnv: { SBX_FIXTURE: "yes" } });
    dir = mkdtempSync(join(tmpdir(), "sbx-ssh-t-"));
  });
  afterAll(async () => {
    await sshd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs many commands over one handshake, argv quoted once", async () => {
    const t = sshTransport({ host, env: env(), runDir: join(dir, "run") });
    const before = sshd.handshakes();
    const tricky = 'it\'s $HOME; `id` && echo "x" | cat > /tmp/no';
    const r1 = await t.run(["printf", "%s", tricky]);
    expect(r1.stdout).toBe(tricky);
    const r2 = await t.run(["sh", "-c", 'echo "$SBX_FIXTURE $X"'], { env: { X: "a b" } });
    expect(r2.stdout.trim()).toBe("yes a b");
    const r3 = await t.run(["pwd"], { cwd: "/tmp" });
    expect(r3.stdout.trim()).toBe("/tmp");
    const r4 = await t.run(["cat"], { input: "from stdin" });
    expect(r4.stdout).toBe("from stdin");
    const r5 = await t.run(["sh", "-c", "exit 7"]);
    expect(r5.code).toBe(7);
    expect(sshd.handshakes() - before).toBe(1);
    await t.close();
  });

  it("copies a directory with rsync and with the tar fallback", async () => {
    const src = join(dir, "src");
    mkdirSync(join(src, "sub"), { recursive: true });
    writeFileSync(join(src, "a.txt"), "A");
    writeFileSync(join(src, "sub", "b c.txt"), "B");
    const t = sshTransport({ host, env: env(), runDir: join(dir, "run") });
    for (const method of ["rsync", "tar"] as const) {
      const dest = join(dir, `dest-${method}`, "deep");
      const res = await t.copyTo(src, dest, { method });
      expect(res.method).toBe(method);
      const cat = await t.run(["cat", join(dest, "a.txt"), join(dest, "sub", "b c.txt")]);
      expect(cat.stdout).toBe("AB");
    }
    await t.close();
  });

  it("rsync keeps a remote path whole: spaces, globs and shell syntax are a name, not a command", async () => {
    const src = join(dir, "src-odd");
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, "f.txt"), "F");
    const t = sshTransport({ host, env: env(), runDir: join(dir, "run") });
    const dest = join(dir, "odd dest", "* $(touch pwned) `touch pwned2`; x");
    const res = await t.copyTo(src, dest, { method: "rsync" });
    expect(res.method).toBe("rsync");
    expect(readFileSync(join(dest, "f.txt"), "utf8")).toBe("F");
    // Remote commands start in the SSH user's home: nothing was run there.
    const home = (await t.run(["sh", "-c", 'printf %s "$HOME"'])).stdout;
    for (const f of ["pwned", "pwned2"]) expect(existsSync(join(home, f))).toBe(false);
    await t.close();
  });

  it("connect() opens the master without a session; later commands reuse it", async () => {
    const t = sshTransport({ host, env: env(), runDir: join(dir, "run-connect") });
    const before = sshd.handshakes();
    await t.connect();
    await t.connect();
    expect((await t.run(["echo", "ok"])).stdout.trim()).toBe("ok");
    expect(sshd.handshakes() - before).toBe(1);
    await t.close();
  });

  it("reports an unreachable host as SBX_HOST_UNREACHABLE", async () => {
    const t = sshTransport({ host: { name: "gone", ssh: { host: "127.0.0.1", port: 1 }, labels: [] }, env: env(), runDir: join(dir, "run") });
    await expect(t.run(["true"])).rejects.toMatchObject({ code: "SBX_HOST_UNREACHABLE" });
    await expect(t.connect()).rejects.toMatchObject({ code: "SBX_HOST_UNREACHABLE" });
    await t.close();
  });
});
