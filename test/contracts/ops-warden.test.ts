/**
 * ops-warden's contract (docs/integrations/ops-warden.md): an inventory host
 * may name an SSH user `certificate`; sand-boxer passes it to ssh as
 * CertificateFile with the host's identity. Proven with a real user CA on the
 * loopback sshd: TrustedUserCAKeys on the server, no authorized key, a key
 * signed by the CA on the client. With the certificate it logs in; without it,
 * or with one signed by another CA, the host is refused.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, resolvePaths } from "../../src/config.js";
import { parseSshG, resolveSshTarget, sshTargetOf } from "../../src/transport/ssh-target.js";
import { type Sshd, startSshd } from "../fixtures/sshd.js";
import { runCli } from "../helpers/cli.js";
import { recordExample } from "./examples.js";

const ALIAS = "sbx-warden-host";
let sshd: Sshd;
let dir: string;
let userKey: string;
let cert: string;
let foreignCert: string;

/** A CA key pair in `dir`; signs `pub` for principal root, valid for an hour. Returns the cert path, moved to `to`. */
function sign(ca: string, pub: string, to: string): string {
  execFileSync("ssh-keygen", ["-q", "-s", ca, "-I", "sbx-ops-warden-test", "-n", "root", "-V", "-5m:+1h", pub]);
  // Moved away from <key>-cert.pub, where ssh would pick it up on its own: only CertificateFile brings it.
  renameSync(pub.replace(/\.pub$/, "-cert.pub"), to);
  return to;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sbx-warden-"));
  for (const d of ["ca", "ca2", "keys", "certs"]) mkdirSync(join(dir, d));
  const keygen = (f: string) => execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "sbx-warden", "-f", f]);
  keygen(join(dir, "ca", "user_ca"));
  keygen(join(dir, "ca2", "other_ca"));
  userKey = join(dir, "keys", "id_ed25519");
  keygen(userKey);
  cert = sign(join(dir, "ca", "user_ca"), `${userKey}.pub`, join(dir, "certs", "warden.cert"));
  foreignCert = sign(join(dir, "ca2", "other_ca"), `${userKey}.pub`, join(dir, "certs", "foreign.cert"));
  sshd = await startSshd({ alias: ALIAS, trustedUserCAKeys: join(dir, "ca", "user_ca.pub"), noAuthorizedKeys: true });
});

afterAll(async () => {
  await sshd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh SANDBOXER_HOME whose inventory names the host with (or without) a certificate; no ssh master is shared. */
function homeWith(certificate: string | null): Record<string, string> {
  const home = mkdtempSync(join(dir, "home-"));
  const ssh = [`host: ${ALIAS}`, "user: root", `identityFile: ${userKey}`, ...(certificate ? [`certificate: ${certificate}`] : [])].join(", ");
  writeFileSync(join(home, "config.yaml"), `hosts:\n  warden-host: { ssh: { ${ssh} } }\n`);
  return {
    ...(process.env as Record<string, string>),
    SANDBOXER_HOME: join(home, "data"),
    SANDBOXER_CONFIG: join(home, "config.yaml"),
    SANDBOXER_SSH_CONFIG: sshd.configFile,
    SANDBOXER_STATE_HUB_URL: "",
    SANDBOXER_URL: "",
  };
}

describe("ops-warden SSH certificates on a host of the inventory", { timeout: 120_000 }, () => {
  it("logs in with the CA-signed certificate (sshd records the certificate's key id)", async () => {
    const env = homeWith(cert);
    const r = await runCli(["inspect", "host", "warden-host", "--json"], env);
    expect(r.stderr).toBe("");
    const report = r.json<{ name: string; reachable: boolean; facts: Record<string, unknown> }>();
    expect(report).toMatchObject({ name: "warden-host", reachable: true });
    expect(report.facts.kernel).toEqual(expect.any(String));
    expect(readFileSync(sshd.logFile, "utf8")).toMatch(/Accepted publickey for root .*ID sbx-ops-warden-test/);
    // The host as loaded, certificate included: what an operator checks with `hosts list --json`.
    const hosts = (await runCli(["hosts", "list", "--json"], env)).json<{ name: string; ssh?: { certificate?: string } }[]>();
    const host = hosts.find((h) => h.name === "warden-host");
    expect(host?.ssh?.certificate).toBe(cert);
    recordExample("ops-warden-inventory-host", host);
  });

  it("is refused without the certificate, and with one from another CA", async () => {
    for (const c of [null, foreignCert]) {
      const r = await runCli(["inspect", "host", "warden-host", "--json"], homeWith(c));
      expect(r.code).toBe(1);
      const report = r.json<{ reachable: boolean; error: string }>();
      expect(report.reachable).toBe(false);
      expect(report.error).toMatch(/Permission denied/);
    }
  });

  it("the ssh_target a consumer gets carries the certificate, and logs in as it is", async () => {
    const env = homeWith(cert);
    const host = loadConfig(resolvePaths(env), env).hosts.get("warden-host");
    if (!host) throw new Error("inventory host missing");
    const target = await resolveSshTarget(host, env);
    expect(target).toMatchObject({ host: "127.0.0.1", user: "root", port: sshd.port, alias: ALIAS });
    expect(target.argv).toContain(`CertificateFile=${cert}`);
    const run = spawnSync(target.argv[0] as string, [...target.argv.slice(1), "echo in-by-cert"], { encoding: "utf8", timeout: 30_000 });
    expect([run.status, run.stdout]).toEqual([0, "in-by-cert\n"]);
  });

  it("parses what ssh -G prints, and keeps the inventory's values when ssh cannot say", () => {
    expect(parseSshG("user root\nhostname 10.0.0.7\nport 2201\nidentityfile ~/.ssh/id\n")).toEqual({ hostname: "10.0.0.7", user: "root", port: 2201 });
    const t = sshTargetOf({ name: "h", ssh: { host: "h.example", user: "sbx", port: 2222, certificate: "/etc/warden/h.cert" }, labels: [] }, {});
    expect(t).toMatchObject({ host: "h.example", user: "sbx", port: 2222, alias: "h.example" });
    expect(t.argv).toEqual(["ssh", "-p", "2222", "-l", "sbx", "-o", "CertificateFile=/etc/warden/h.cert", "-o", "BatchMode=yes", "h.example"]);
    expect(t.command).toBe("ssh -p 2222 -l sbx -o CertificateFile=/etc/warden/h.cert -o BatchMode=yes h.example");
  });

  it("a certificate that is not a string is bad config naming the field", async () => {
    const env = homeWith(null);
    writeFileSync(env.SANDBOXER_CONFIG as string, "hosts:\n  warden-host: { ssh: { host: x, certificate: 42 } }\n");
    const r = await runCli(["hosts", "list", "--json"], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/hosts\.warden-host\.ssh\.certificate/);
  });
});
