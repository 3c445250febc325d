/**
 * Issue 18 through the real CLI (bubblewrap, packer, ssh -G on this machine):
 * bad input creates nothing, refusals still explain, secrets are never echoed,
 * small truths in the human output.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { createAdaptorServer } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Sandbox } from "../src/types.js";
import { apiFixture } from "./helpers/api.js";
import { runCli } from "./helpers/cli.js";
import { makeHome, type TestHome } from "./helpers/home.js";

const PACKER = join(import.meta.dirname, "fixtures", "packer");

let home: TestHome;
beforeAll(() => {
  home = makeHome();
  // sandboxer01 is never contacted: every create here must be refused before placement.
  writeFileSync(home.env.SANDBOXER_CONFIG as string, "hosts:\n  localhost: { labels: [local], maxSandboxes: 3 }\n  sandboxer01: { compose: podman-compose }\n");
});
afterAll(async () => {
  await home?.cleanup();
});

const cli = (...args: string[]) => runCli(args, home.env);
const records = async () => (await cli("list", "--all", "--json")).json<Sandbox[]>();

describe("everything checkable without side effects is refused before the record (exit 2, nothing left)", () => {
  const notATemplate = () => {
    const dir = join(home.dir, "not-a-template");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "README.txt"), "not a template\n");
    return dir;
  };
  it.each([
    [
      "a -var the template does not declare",
      ["--profile", "profile.vm-packer-build", "--input", `packer_template=${PACKER}/ok`, "--input", "packer_var_nope=1"],
      /SBX_INPUT_INVALID.*input 'packer_var_nope': the template declares no variable "nope" \(it declares: greeting, vm_name\)/,
    ],
    [
      "a packer_template that is no template",
      ["--profile", "profile.vm-packer-build", "--input", "packer_template=NOT_A_TEMPLATE"],
      /SBX_INPUT_INVALID.*packer_template.*holds no \*\.pkr\.hcl/,
    ],
    [
      "a missing vm_name the template needs",
      ["--profile", "profile.vm-packer-build", "--input", `packer_template=${PACKER}/fail`],
      /SBX_INPUT_MISSING.*input 'vm_name' is required: the template's variable "vm_name" has no default/,
    ],
    [
      "vm_name for a template without it",
      ["--profile", "profile.vm-packer-build", "--input", `packer_template=${PACKER}/empty`],
      /SBX_INPUT_INVALID.*packer_template/,
    ],
    [
      "a VM alias that does not resolve",
      ["--profile", "profile.vm-haskell-build", "--input", "vm=nosuchvm"],
      /SBX_INPUT_INVALID.*input 'vm': 'nosuchvm' is not a host alias in .* and does not resolve/,
    ],
    [
      "a repo that is not there",
      ["--profile", "profile.vm-haskell-build", "--input", "vm=localhost", "--input", "repo=~/nope-not-here"],
      /SBX_INPUT_INVALID.*input 'repo': ~\/nope-not-here is not a directory on this machine/,
    ],
    [
      "a compose stack without a stack",
      ["--profile", "profile.compose-e2e", "--host", "sandboxer01"],
      /SBX_INPUT_MISSING.*input 'repo' or 'compose_file' is required/,
    ],
  ])("%s", async (_what, args, pattern) => {
    const argv = args.map((a) => a.replace("NOT_A_TEMPLATE", notATemplate()));
    const r = await cli("create", ...argv);
    expect(r.stderr).toMatch(pattern);
    expect(r.code).toBe(2);
    expect(await records()).toEqual([]);
  });

  it("a restore needs no input the snapshot holds, and is refused at plan time where it cannot be", async () => {
    const repo = join(home.dir, "seed");
    mkdirSync(repo, { recursive: true });
    writeFileSync(join(repo, "compose.yaml"), "services:\n  web: { image: busybox }\n");
    const sb = (await cli("create", "--profile", "profile.local", "--input", `repo=${repo}`, "--json")).json<Sandbox>();
    const snap = (await cli("snapshot", sb.id, "--json")).json<{ id: string }>();
    expect((await cli("destroy", sb.id)).code).toBe(0);
    const before = (await records()).length;
    // Onto an SSH host its own profile cannot use: the profiles that can are named.
    const onto = await cli("restore", snap.id, "--host", "sandboxer01");
    expect(onto.code).toBe(2);
    expect(onto.stderr).toMatch(
      /SBX_HOST_NOT_FOUND.*is of profile.local, which cannot restore onto sandboxer01 \(its placement is localhost\); restore with --profile one of: .*profile.compose-e2e/,
    );
    expect(onto.stderr).not.toMatch(/profile.vm-packer-build/);
    // Into a build profile: nothing to restore into, said before any record.
    const build = await cli("restore", snap.id, "--profile", "profile.vm-packer-build", "--input", `packer_template=${PACKER}/ok`);
    expect(build.stderr).toMatch(/SBX_UNSUPPORTED.*build mode has no workspace/);
    expect(build.code).toBe(2);
    expect((await records()).length).toBe(before);
  });
});

describe("route explain answers even when a create would be refused", () => {
  it("no credits: the rejected table with the reason, exit 0, and the create itself is still refused", async () => {
    const human = await cli("route", "explain", "--profile", "profile.saas-stub");
    expect(human.stderr).toBe("");
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/profile.saas-stub: no usable extension \(single\); a create would be refused with SBX_INSUFFICIENT_CREDITS/);
    expect(human.stdout).toMatch(/^EXTENSION\s+REJECTED BECAUSE$/m);
    expect(human.stdout).toMatch(/^ext.saas-stub\s+insufficient credits: needs 1, account 'default' has 0$/m);
    const json = (await cli("route", "explain", "--profile", "profile.saas-stub", "--json")).json<Record<string, unknown>>();
    expect(json).toMatchObject({
      profile: "profile.saas-stub",
      chosen: null,
      refused: { code: "SBX_INSUFFICIENT_CREDITS" },
      rejected: [{ extension: "ext.saas-stub" }],
    });
    const create = await cli("create", "--profile", "profile.saas-stub");
    expect(create.code).toBe(4);
    expect(await records()).toEqual((await records()).filter((r) => r.profile !== "profile.saas-stub"));
  });

  it("POST /v1/plan answers 200 with `refused`; the remote CLI explains it the same way", async () => {
    const fx = await apiFixture();
    const server = createAdaptorServer({ fetch: fx.app.fetch, hostname: "127.0.0.1" });
    try {
      const res = await fx.call("POST", "/v1/plan", { body: { profile: "profile.saas-stub" } });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({
        refused: { code: "SBX_INSUFFICIENT_CREDITS" },
        route: { chosen: null, rejected: [{ extension: "ext.saas-stub", why: expect.stringMatching(/insufficient credits/) }] },
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const r = await runCli(["route", "explain", "--profile", "profile.saas-stub"], { ...fx.home.env, SANDBOXER_URL: url, SANDBOXER_TOKEN: fx.tokens.p1 });
      expect(r.stderr).toBe("");
      expect(r.stdout).toMatch(/would be refused with SBX_INSUFFICIENT_CREDITS[\s\S]*ext.saas-stub\s+insufficient credits/);
    } finally {
      await new Promise((r) => server.close(r));
      await fx.cleanup();
    }
  });
});

describe("tokens never echo a secret", () => {
  it("revoke by the whole token; a mistyped token or a stray argument is refused without echo", async () => {
    const made = (await cli("tokens", "create", "--actor", "agt", "--project", "p", "--json")).json<{ token: string; tokenId: string }>();
    // The secret is what follows the id; it may itself hold "_" (base64url).
    const secret = made.token.replace(/^sbx_tok-[a-z2-7]{12}_/, "");
    const mistyped = `${made.token.slice(0, -3)}xyz`.replace("sbx_", "sbx-");
    for (const args of [["revoke", mistyped], ["revoke", made.tokenId, made.token], [made.token], ["list", made.token], ["revoke", `${secret}`]]) {
      const r = await cli("tokens", ...args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).not.toContain(secret.slice(0, 8));
      expect(r.stderr).not.toContain(secret.slice(-8));
      expect(r.stderr).toMatch(/not shown/);
    }
    const ok = await cli("tokens", "revoke", made.token);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`^${made.tokenId}  revoked `));
    expect(ok.stdout + ok.stderr).not.toContain(secret.slice(0, 8));
  });

  it("a token with a character no header may carry is not quoted back by the client", async () => {
    const token = `sbx_tok-abcdefghijkl_${"Q".repeat(20)}\n${"Q".repeat(22)}`;
    const r = await runCli(["list"], { ...home.env, SANDBOXER_URL: "http://127.0.0.1:9", SANDBOXER_TOKEN: token });
    expect(r.code).not.toBe(0);
    expect(r.stderr).not.toContain("QQQQ");
    expect(r.stderr).toMatch(/not a valid HTTP header value/);
  });
});

describe("small truths", () => {
  it("hosts list: how each host is reached, default roots, maxSandboxes", async () => {
    const r = await cli("hosts", "list");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^NAME\s+REACHED BY\s+COMPOSE\s+WORKSPACE ROOT\s+MAX SANDBOXES\s+LABELS$/m);
    expect(r.stdout).toMatch(/^localhost\s+\(this machine\)\s+-\s+\S+\/workspaces \(default\)\s+3\s+local$/m);
    expect(r.stdout).toMatch(
      /^sandboxer01\s+ssh sandboxer01 \(ssh_config alias\)\s+podman-compose\s+~\/\.local\/share\/sandboxer\/stacks \(default\)\s+-\s+-$/m,
    );
  });

  it("reaper --once reports its pass without a next run; extend-ttl speaks one unit system", async () => {
    const once = await cli("reaper", "--once");
    expect(once.code, once.stderr).toBe(0);
    expect(once.stdout).toMatch(/expired 0, retried 0/);
    expect(once.stdout).not.toMatch(/next in/);
    const sb = (await cli("create", "--profile", "profile.local", "--ttl", "6h", "--json")).json<Sandbox>();
    try {
      const over = await cli("extend-ttl", sb.id, "--duration", "18h15m");
      expect(over.code).toBe(2);
      expect(over.stderr).toMatch(/by 18h15m would give it a lifetime of 24h15m, over the maximum 24h of profile.local; at most 18h more is allowed/);
    } finally {
      await cli("destroy", sb.id);
    }
  });

  it("a cancelled create is the user's doing: reason user, and no expiry shown for the failed record", async () => {
    const b = home.broker();
    const controller = new AbortController();
    // Cancelled once the record exists (as `destroy` or Ctrl-C would, mid-provisioning).
    const pending = b
      .create({ profile: "profile.local" }, { signal: controller.signal, onRecord: () => controller.abort() })
      .catch((e: unknown) => e as { code: string; details?: { id?: string } });
    const err = (await pending) as { code: string; details?: { id?: string } };
    expect(err.code).toBe("SBX_CANCELLED");
    const rec = await b.get(String(err.details?.id));
    expect(rec).toMatchObject({ state: "failed", reason: "user" });
    expect((await cli("list")).stdout).toMatch(new RegExp(`^${rec.id}\\s+failed\\s.*\\s-$`, "m"));
    expect((await b.destroy(rec.id)).reason).toBe("user");
  });
});
