/**
 * Build mode on localhost with Debian's real packer 1.6.6 (null and file
 * builders, shell-local, manifest): progress, artifacts, failures, bad input,
 * cancel by signal and Ctrl-C, and a kill -9 mid-build cleaned up by reconcile.
 */
import { cpSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Broker } from "../src/broker.js";
import { testExtension } from "./extension-contract.js";
import { failure, processesIn } from "./helpers/assert.js";
import { runCli, spawnCli } from "./helpers/cli.js";
import { makeHome, type TestHome } from "./helpers/home.js";

const FIX = join(import.meta.dirname, "fixtures", "packer");
let home: TestHome;
let broker: Broker;
let work: string;

/** A private copy of a fixture template: packer writes its outputs next to it. */
function template(name: string): string {
  const dir = mkdtempSync(join(work, `${name}-`));
  cpSync(join(FIX, name), dir, { recursive: true });
  return dir;
}

async function until(cond: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The id of the build of template `dir`, once its provisioner is running (its "started" line arrived). */
async function buildStarted(dir: string): Promise<string> {
  let id = "";
  await until(async () => {
    id = (await broker.list()).find((s) => s.inputs.packer_template === dir)?.id ?? "";
    return id !== "" && (await broker.events({ sandboxId: id })).some((e) => String(e.data.message ?? "").includes("started"));
  }, 60_000);
  return id;
}

const stateDir = (id: string) => join(home.dir, "home", "run", "vm-packer", id);

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "sbx-packer-"));
  home = makeHome();
  broker = home.broker();
});

afterAll(async () => {
  await home?.cleanup();
  for (const pid of processesIn(work)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  rmSync(work, { recursive: true, force: true });
});

// Build mode through the shared contract suite: provision is the build, list finds its state dir.
let contractWork = "";
testExtension({
  name: "ext.vm-packer",
  make: async () => {
    contractWork = mkdtempSync(join(tmpdir(), "sbx-packer-contract-"));
    cpSync(join(FIX, "ok"), contractWork, { recursive: true });
    return {
      home: makeHome(),
      request: { profile: "profile.vm-packer-build", inputs: { packer_template: contractWork, vm_name: "contract" } },
      cleanup: async () => rmSync(contractWork, { recursive: true, force: true }),
    };
  },
  skip: [
    { reason: "a Packer build has no workspace to run commands in: exec answers SBX_UNSUPPORTED in build mode (tested in vm-packer-exec)", tests: ["exec"] },
    { reason: "a finished build stays alive after destroy: its image outlives the record by design", tests: ["alive-after-teardown"] },
  ],
});

describe("ext.vm-packer build mode (real packer)", () => {
  it("builds: live progress with unescaped commas, artifacts on the record; destroy keeps the image", async () => {
    const dir = template("ok");
    const notes: string[] = [];
    const b = home.broker({ onProgress: (n) => notes.push(n.message) });
    const sb = await b.create({ profile: "profile.vm-packer-build", inputs: { packer_template: dir, vm: "demo", packer_var_greeting: "hi there" } });
    expect(sb.state).toBe("ready");
    expect(sb.mode).toBe("build");
    expect(sb.inputs).toMatchObject({ vm_name: "demo", packer_var_greeting: "(secret)" });
    const artifacts = sb.reachability?.artifacts as { build: string; builderId: string; id: string; files: string[] }[];
    const image = artifacts.find((a) => a.builderId === "packer.file");
    expect(image).toMatchObject({ build: "file.image", id: "File", files: [join(dir, "out", "demo.img")] });
    expect(artifacts.find((a) => a.builderId === "fnoeding.null")).toBeTruthy();
    // packer_var_* values are secrets: Packer's echo of one shows the mask (src/extensions/vm-packer/redact.ts).
    expect(notes).toContain("file.image: (secret), a,b,c");
    const progress = (await b.events({ sandboxId: sb.id })).filter((e) => e.type === "sandbox.progress").map((e) => e.data.message);
    expect(progress).toContain("file.image: (secret), a,b,c");
    expect(progress.join("\n")).not.toContain("hi there");
    expect(progress.some((m) => String(m).startsWith("packer validate"))).toBe(true);

    const done = await b.destroy(sb.id);
    expect(done.state).toBe("destroyed");
    expect(existsSync(join(dir, "out", "demo.img"))).toBe(true);
    expect(existsSync(stateDir(sb.id))).toBe(false);
  });

  it("a failed build -> failed record carrying the Packer error lines", async () => {
    const err = await failure(broker.create({ profile: "profile.vm-packer-build", inputs: { packer_template: template("fail"), vm_name: "x" } }));
    expect(err.code).toBe("SBX_PROVISION_FAILED");
    expect(err.message).toMatch(/Script exited with non-zero exit status: 3/);
    const id = String(err.details?.id);
    const rec = await broker.get(id);
    expect(rec.state).toBe("failed");
    expect(rec.error?.message).toMatch(/null\.basic: oops/);
    expect(existsSync(stateDir(id))).toBe(false);
  });

  it("an undeclared packer_var_* names the input (exit 2) at plan time: no record", async () => {
    const before = (await broker.list({ states: ["failed"] })).length;
    const err = await failure(broker.create({ profile: "profile.vm-packer-build", inputs: { packer_template: template("ok"), packer_var_nope: "1" } }));
    expect(err.code).toBe("SBX_INPUT_INVALID");
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(/input 'packer_var_nope': the template declares no variable "nope"/);
    expect(err.details?.id).toBeUndefined();
    expect((await broker.list({ states: ["failed"] })).length).toBe(before);
  });

  it("a template directory without templates, and a missing template path", async () => {
    const empty = await failure(broker.create({ profile: "profile.vm-packer-build", inputs: { packer_template: template("empty") } }));
    expect(empty.code).toBe("SBX_INPUT_INVALID");
    expect(empty.message).toMatch(/input 'packer_template': directory .* holds no \*\.pkr\.hcl/);
    const missing = await failure(broker.create({ profile: "profile.vm-packer-build", inputs: { packer_template: join(work, "nowhere") } }));
    expect(missing.message).toMatch(/input 'packer_template': .*nowhere does not exist on this machine/);
    expect(missing.details?.id).toBeUndefined();
  });

  it("build mode without a template is refused at plan time, on either profile", async () => {
    const err = await failure(broker.create({ profile: "profile.vm-haskell-build", inputs: { mode: "build" } }));
    expect(err.code).toBe("SBX_INPUT_INVALID");
    expect(err.details?.field).toBe("packer_template");
    expect(err.details?.id).toBeUndefined();
  });

  it("packer missing on the host -> SBX_DEPENDENCY_MISSING", async () => {
    const h = makeHome({ SANDBOXER_PACKER: join(work, "no-such-packer") });
    try {
      const err = await failure(h.broker().create({ profile: "profile.vm-packer-build", inputs: { packer_template: template("ok") } }));
      expect(err.code).toBe("SBX_DEPENDENCY_MISSING");
      expect(err.message).toMatch(/no-such-packer is not installed on host localhost/);
    } finally {
      await h.cleanup();
    }
  });

  it("cancel (the create's abort signal) stops packer with SIGINT; Packer cleans up; record failed", async () => {
    const dir = template("slow");
    const controller = new AbortController();
    let started = false;
    const b = home.broker({
      onProgress: (n) => {
        if (n.message.includes("started")) started = true;
      },
    });
    const pending = failure(b.create({ profile: "profile.vm-packer-build", inputs: { packer_template: dir } }, { signal: controller.signal }));
    await until(() => started);
    controller.abort();
    const err = await pending;
    expect(err.code).toBe("SBX_CANCELLED");
    const rec = await b.get(String(err.details?.id));
    expect(rec.state).toBe("failed");
    const messages = (await b.events({ sandboxId: rec.id })).map((e) => String(e.data.message ?? ""));
    expect(messages).toContain("cancelling packer build (SIGINT)");
    await until(() => processesIn(dir).length === 0, 15_000);
    expect(existsSync(stateDir(rec.id))).toBe(false);
  });

  it("`sandboxer events --follow` shows the build's progress live, while it is still provisioning", async () => {
    const dir = template("slow");
    const follow = spawnCli(["events", "--follow", "--json"], home.env);
    let out = "";
    follow.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const followDone = new Promise((r) => follow.on("close", r));
    const controller = new AbortController();
    const pending = failure(home.broker().create({ profile: "profile.vm-packer-build", inputs: { packer_template: dir } }, { signal: controller.signal }));
    try {
      const id = await buildStarted(dir);
      await until(() => out.split("\n").some((l) => l.includes(id) && l.includes("null.basic: started")));
      expect((await broker.get(id)).state).toBe("provisioning");
    } finally {
      controller.abort();
      follow.kill("SIGTERM");
      await Promise.all([pending, followDone]);
    }
    await until(() => processesIn(dir).length === 0, 15_000);
  }, 240_000);

  it("Ctrl-C on `sandboxer create` cancels the build cleanly (exit 1, SBX_CANCELLED)", async () => {
    const dir = template("slow");
    const child = spawnCli(["create", "--profile", "profile.vm-packer-build", "--input", `packer_template=${dir}`, "--json"], home.env);
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number>((r) => child.on("close", (code) => r(code ?? 137)));
    const id = await buildStarted(dir);
    child.kill("SIGINT");
    expect(await exited).toBe(1);
    expect(stderr).toMatch(/SBX_CANCELLED/);
    expect((await broker.get(id)).state).toBe("failed");
    await until(() => processesIn(dir).length === 0, 15_000);
  }, 240_000);

  it("`sandboxer destroy` during a build cancels it (SIGINT to packer) and destroys the record", async () => {
    const dir = template("slow");
    const child = spawnCli(["create", "--profile", "profile.vm-packer-build", "--input", `packer_template=${dir}`], home.env);
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number>((r) => child.on("close", (code) => r(code ?? 137)));
    const id = await buildStarted(dir);
    const d = await runCli(["destroy", id, "--json"], home.env, { timeoutMs: 150_000 });
    expect(d.stderr, d.stderr).toBe("");
    expect(d.code).toBe(0);
    // Cancelled by the user's destroy, not a failed provision.
    expect(d.json<{ state: string; reason: string }>()).toMatchObject({ state: "destroyed", reason: "user" });
    expect(await exited).toBe(1);
    expect(stderr).toMatch(/SBX_CANCELLED.*cancelled by `destroy`/);
    const types = (await broker.events({ sandboxId: id })).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(["sandbox.cancel_requested", "sandbox.failed", "sandbox.destroyed"]));
    expect(processesIn(dir)).toEqual([]);
  }, 240_000);

  it("kill -9 of the CLI mid-build: reconcile stops the orphaned packer and fails the record", async () => {
    const dir = template("slow");
    const child = spawnCli(["create", "--profile", "profile.vm-packer-build", "--input", `packer_template=${dir}`], home.env);
    const exited = new Promise((r) => child.on("close", r));
    const id = await buildStarted(dir);
    child.kill("SIGKILL");
    await exited;
    expect(processesIn(dir).length).toBeGreaterThan(0);
    const r = await runCli(["reconcile", "--json"], home.env);
    expect(r.json<{ errors: unknown[] }>().errors).toEqual([]);
    expect(r.code).toBe(0);
    expect((await broker.get(id)).state).toBe("failed");
    expect(processesIn(dir)).toEqual([]);
  }, 240_000);
});
