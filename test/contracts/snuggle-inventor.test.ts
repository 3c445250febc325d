/**
 * snuggle-inventor's flow (docs/integrations/snuggle-inventor.md): a VM image
 * build through the CLI's JSON. `create --profile profile.vm-packer-build`
 * runs Debian's real packer (a null-builder template), follows progress with
 * `events ID --json`, reads the artifacts from `reachability.artifacts`, and
 * `destroy` forgets the build but keeps the image.
 */
import { cpSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorBody, SandboxRecord } from "../../src/api/schemas.js";
import type { SandboxEvent } from "../../src/types.js";
import { runCli } from "../helpers/cli.js";
import { makeHome, type TestHome } from "../helpers/home.js";
import { recordExample } from "./examples.js";

let home: TestHome;
let template: string;

beforeAll(() => {
  home = makeHome({ SANDBOXER_URL: "" });
  template = join(mkdtempSync(join(tmpdir(), "sbx-snuggle-")), "image");
  cpSync(join(import.meta.dirname, "..", "fixtures", "packer", "ok"), template, { recursive: true });
});
afterAll(async () => {
  await home?.cleanup();
  rmSync(join(template, ".."), { recursive: true, force: true });
});

describe("snuggle-inventor: a Packer image build through the CLI", { timeout: 300_000 }, () => {
  it("create -> progress events -> artifacts on the record -> destroy keeps the image", async () => {
    const r = await runCli(
      [
        "create",
        "--profile",
        "profile.vm-packer-build",
        "--input",
        `packer_template=${template}`,
        "--input",
        "vm_name=snug",
        "--input",
        "packer_var_greeting=from snuggle",
        "--actor",
        "atm",
        "--project",
        "snuggle",
        "--json",
      ],
      home.env,
      { timeoutMs: 280_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    const sb = SandboxRecord.parse(r.json());
    expect([sb.state, sb.mode, sb.extension]).toEqual(["ready", "build", "ext.vm-packer"]);
    const artifacts = sb.reachability?.artifacts as { build: string; builderId: string; files: string[] }[];
    const image = artifacts.find((a) => a.builderId === "packer.file");
    expect(image?.files).toEqual([join(template, "out", "snug.img")]);
    recordExample("snuggle-inventor-build", sb);

    const events = (await runCli(["events", sb.id, "--json"], home.env)).json<SandboxEvent[]>();
    const progress = events.filter((e) => e.type === "sandbox.progress").map((e) => String(e.data.message));
    // packer_var_* values are secrets: where Packer prints one, progress shows the mask (src/extensions/vm-packer/redact.ts).
    expect(progress).toContain("file.image: (secret), a,b,c");
    expect(progress.join("\n")).not.toContain("from snuggle");
    expect(events.at(-1)?.type).toBe("sandbox.ready");

    const d = await runCli(["destroy", sb.id, "--json"], home.env);
    expect(SandboxRecord.parse(d.json()).state).toBe("destroyed");
    expect(existsSync(join(template, "out", "snug.img"))).toBe(true);
  });

  it("a variable the template does not declare is exit 2 naming packer_var_<name>, before any record", async () => {
    const before = (await runCli(["list", "--all", "--json"], home.env)).json<unknown[]>().length;
    const r = await runCli(
      ["create", "--profile", "profile.vm-packer-build", "--input", `packer_template=${template}`, "--input", "packer_var_nope=1", "--json"],
      home.env,
      { timeoutMs: 120_000 },
    );
    expect(r.code).toBe(2);
    const err = ErrorBody.parse(JSON.parse(r.stderr));
    expect(err.error.message).toMatch(/packer_var_nope/);
    // Checked at plan time: nothing is built and no record is left.
    expect((await runCli(["list", "--all", "--json"], home.env)).json<unknown[]>()).toHaveLength(before);
    recordExample("snuggle-inventor-error", err);
  });
});
