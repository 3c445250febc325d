/**
 * What a tenant sees of a remote directory (docs/integrations/wise-validator.md,
 * "Tenants"): `remote_dir` and where to log in stay when the directory is on an
 * SSH host; the ssh argv (this server's ssh_config and key paths) and every
 * other server path go; on localhost the directory is the server's and goes too.
 */
import { describe, expect, it } from "vitest";
import type { Caller } from "../../src/tenancy/access.js";
import { eventFor, recordFor } from "../../src/tenancy/view.js";
import type { JsonObject, Sandbox, SandboxEvent } from "../../src/types.js";

const TENANT: Caller = { actor: "atm", project: "wv" };
const target = {
  host: "192.0.2.10",
  user: "sbx",
  port: 2222,
  alias: "sandboxer01",
  argv: ["ssh", "-F", "/home/sbx/.ssh/sandboxer_config", "-i", "/home/sbx/.ssh/id_ed25519", "sandboxer01"],
  command: "ssh -F /home/sbx/.ssh/sandboxer_config sandboxer01",
};

function record(reachability: JsonObject): Sandbox {
  return {
    id: "sbx-aaaaaaaaaaaa",
    profile: "profile.compose-e2e",
    profileVersion: 1,
    extension: "ext.compose-ssh",
    mode: null,
    host: "sandboxer01",
    state: "ready",
    actor: "atm",
    project: "wv",
    inputs: { repo: "/srv/repos/wv/app" },
    createdAt: "2026-01-01T00:00:00.000Z",
    readyAt: "2026-01-01T00:00:05.000Z",
    expiresAt: null,
    destroyedAt: null,
    reason: null,
    reachability,
    route: null,
    cost: null,
    error: null,
    hostFacts: null,
    ttlSeconds: 7200,
    updatedAt: "2026-01-01T00:00:05.000Z",
  };
}

describe("tenants and remote_dir", () => {
  it("on an SSH host: remote_dir and user/host/port/alias stay; argv, command, workspace and ssh_config paths go", () => {
    const sb = record({
      kind: "compose",
      workspace: "/srv/sandboxer/sbx-aaaaaaaaaaaa",
      remote_dir: "/srv/sandboxer/sbx-aaaaaaaaaaaa",
      ssh_target: target as unknown as JsonObject,
      urls: ["http://192.0.2.10:41000"],
    });
    const v = recordFor(TENANT, sb);
    expect(v.reachability).toEqual({
      kind: "compose",
      remote_dir: "/srv/sandboxer/sbx-aaaaaaaaaaaa",
      ssh_target: { host: "192.0.2.10", user: "sbx", port: 2222, alias: "sandboxer01" },
      urls: ["http://192.0.2.10:41000"],
    });
    expect(JSON.stringify(v)).not.toMatch(/\/home\/sbx|id_ed25519|-F/);
    // The ready event carries the same view.
    const e: SandboxEvent = {
      seq: 1,
      id: "evt-1",
      type: "sandbox.ready",
      sandboxId: sb.id,
      at: sb.createdAt,
      actor: "atm",
      project: "wv",
      data: { from: "provisioning", reachability: sb.reachability },
    };
    expect(eventFor(TENANT, e).data.reachability).toEqual(v.reachability);
    // Operators see it all.
    expect(recordFor({ actor: "adm", project: null }, sb).reachability).toBe(sb.reachability);
  });

  it("on localhost (ssh_target null) the directory is the server's: no remote_dir", () => {
    const v = recordFor(
      TENANT,
      record({ kind: "compose", workspace: "/var/tmp/sandboxer/sbx-aaaaaaaaaaaa", remote_dir: "/var/tmp/sandboxer/sbx-aaaaaaaaaaaa", ssh_target: null }),
    );
    expect(v.reachability).toEqual({ kind: "compose", ssh_target: null });
  });

  it("an ssh_target that is not an object does not bring remote_dir back", () => {
    for (const t of ["ssh sandboxer01", ["ssh"], 7]) {
      const v = recordFor(TENANT, record({ kind: "compose", remote_dir: "/srv/sandboxer/x", ssh_target: t as never }));
      expect(v.reachability).not.toHaveProperty("remote_dir");
    }
  });
});
