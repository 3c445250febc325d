/**
 * packer_var_* values never leave Packer through sand-boxer: not in the build
 * log, not in `sandbox.progress` events, not in the record's error message,
 * even when the template prints them or Packer quotes them in a diagnostic.
 * Real builds with Debian's packer 1.6.6; the var-file diagnostic is Packer's
 * own recorded output (test/fixtures/packer/recorded/).
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Broker } from "../src/broker.js";
import { SandboxerError } from "../src/errors.js";
import { MASK, packerVarValues, secretMask } from "../src/extensions/vm-packer/redact.js";
import { processesIn } from "./helpers/assert.js";
import { makeHome, type TestHome } from "./helpers/home.js";

const FIX = join(import.meta.dirname, "fixtures", "packer");
const SECRET = `s3cr3t-${process.pid}, with a comma`;
let home: TestHome;
let broker: Broker;
let work: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "sbx-pk-secret-"));
  home = makeHome();
  broker = home.broker();
});
afterAll(async () => {
  await home?.cleanup();
  for (const pid of processesIn(work)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  rmSync(work, { recursive: true, force: true });
});

function template(): string {
  const dir = mkdtempSync(join(work, "echo-"));
  cpSync(join(FIX, "echo-secret"), dir, { recursive: true });
  return dir;
}

/** Every form a value takes in Packer's output, for the absence checks. */
const forms = (v: string) => [v, v.replaceAll(",", "%!(PACKER_COMMA)"), `s3cr3t-${process.pid}`];

describe("packer_var_* values in Packer's output", () => {
  it("a template that prints the secret: the build log and progress show the mask, never the value", { timeout: 120_000 }, async () => {
    const sb = await broker.create({ profile: "profile.vm-packer-build", inputs: { packer_template: template(), packer_var_token: SECRET } });
    expect(sb.state).toBe("ready");
    const notes = (await broker.events({ sandboxId: sb.id })).map((e) => String(e.data.message ?? ""));
    expect(notes).toContain(`null.basic: token is ${MASK}`);
    const log = readFileSync(join(home.dir, "home", "logs", "vm-packer", `${sb.id}.log`), "utf8");
    expect(log).toContain(`token is ${MASK}`);
    for (const f of forms(SECRET)) {
      expect(log).not.toContain(f);
      expect(notes.join("\n")).not.toContain(f);
    }
    await broker.destroy(sb.id);
  });

  it("a value Packer rejects: the record's error and the log name the input, not the value", { timeout: 120_000 }, async () => {
    const bad = `not-a-number-${process.pid}`;
    const err = (await broker
      .create({ profile: "profile.vm-packer-build", inputs: { packer_template: template(), packer_var_count: bad } })
      .catch((e: unknown) => e)) as SandboxerError;
    expect(err).toBeInstanceOf(SandboxerError);
    expect(err.message).not.toContain(bad);
    const rec = await broker.get(String(err.details?.id));
    expect(JSON.stringify(rec.error)).not.toContain(bad);
    const events = await broker.events({ sandboxId: rec.id });
    expect(JSON.stringify(events.map((e) => e.data.message ?? null))).not.toContain(bad);
    expect(readFileSync(join(home.dir, "home", "logs", "vm-packer", `${rec.id}.log`), "utf8")).not.toContain(bad);
  });

  it("masks Packer's quote of the generated var file (recorded 1.6.6 output), whatever the value's length", () => {
    const long = readFileSync(join(FIX, "recorded", "validate-varfile-type.txt"), "utf8").trim();
    const masked = secretMask(["s3cr3t-value, x"])(long);
    expect(masked).not.toContain("s3cr3t");
    expect(masked).toContain(`1: n = ${MASK}`);
    const short = readFileSync(join(FIX, "recorded", "validate-varfile-short.txt"), "utf8").trim();
    expect(secretMask(["ab"])(short)).toContain(`1: n = ${MASK}\\n`);
    // Ordinary output is left alone; short values are not searched for in it.
    expect(secretMask(["ab"])("1796163500,,ui,message,    null.basic: about cabs")).toBe("1796163500,,ui,message,    null.basic: about cabs");
    expect(packerVarValues({ packer_var_a: "x", packer_var_file: "f.hcl", packer_template: "t", packer_var_: "y" })).toEqual(["x"]);
  });
});
