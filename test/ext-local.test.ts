import { afterAll, describe, expect, it } from "vitest";
import { testExtension } from "./extension-contract.js";
import { makeHome } from "./helpers/home.js";

testExtension({
  name: "ext.local",
  make: async () => ({ home: makeHome(), request: { profile: "profile.local" } }),
});

describe("ext.local stale detection is per SANDBOXER_HOME", () => {
  const a = makeHome();
  const b = makeHome();
  afterAll(async () => {
    await a.cleanup();
    await b.cleanup();
  });

  it("lists only the sandboxes of its own home, so reaping one home never touches another", async () => {
    const ba = a.broker();
    const bb = b.broker();
    const sa = await ba.create({ profile: "profile.local" });
    const sb = await bb.create({ profile: "profile.local" });
    const { extension, ctx } = await ba.contextFor(sa.id);
    const ids = (await extension.list?.(ctx))?.map((r) => r.sandboxId) ?? [];
    expect(ids).toContain(sa.id);
    expect(ids).not.toContain(sb.id);
    const report = await ba.reconcile({ deep: true });
    expect(report.orphans.map((o) => o.sandboxId)).not.toContain(sb.id);
  });

  it("captured exec output is capped, and says so", async () => {
    const ba = a.broker();
    const sb = await ba.create({ profile: "profile.local" });
    const r = await ba.exec(sb.id, ["sh", "-c", "head -c 20000000 /dev/zero | tr '\\0' x; echo done >&2"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    expect(r.exitCode).toBe(0);
    expect(r.truncated).toBe(true);
    expect(r.stdout?.length).toBe(8 * 1024 * 1024);
    expect(r.stderr).toBe("done\n");
  });

  it("exec --service is refused for a sandbox without services, naming the field", async () => {
    const ba = a.broker();
    const sb = await ba.create({ profile: "profile.local" });
    await expect(ba.exec(sb.id, ["true"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" }, { service: "web" })).rejects.toMatchObject({ code: "SBX_INPUT_INVALID", details: { field: "service" } });
  });
});
