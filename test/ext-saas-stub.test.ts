/**
 * ext.saas-stub through the shared contract suite (its "vendor" is a directory
 * of the home, on defineMeteredExtension like the real vendors), and its fault
 * injection: a create whose answer is lost leaves nothing behind.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { testExtension } from "./extension-contract.js";
import { makeHome, type TestHome } from "./helpers/home.js";

async function funded(extra: Record<string, string> = {}): Promise<TestHome> {
  const home = makeHome(extra);
  await home.broker().addCredits({ account: "default", amount: 100 });
  return home;
}

const remotes = (home: TestHome) => {
  const dir = join(home.env.SANDBOXER_HOME as string, "saas-stub");
  return existsSync(dir) ? readdirSync(dir) : [];
};

testExtension({
  name: "ext.saas-stub",
  make: async () => ({ home: await funded(), request: { profile: "profile.saas-stub" } }),
});

describe("ext.saas-stub faults", () => {
  it.each(["provision", "ready"])(
    "an injected %s failure: SBX_PROVISION_FAILED, the record failed, nothing left at the 'vendor' (found by its tag)",
    async (step) => {
      const home = await funded({ SANDBOXER_SAAS_STUB_FAIL: step });
      try {
        const b = home.broker();
        const err = await b.create({ profile: "profile.saas-stub" }).catch((e: unknown) => e);
        expect(err).toMatchObject({ code: "SBX_PROVISION_FAILED", message: expect.stringMatching(`injected ${step} failure`) });
        expect((await b.list({ states: ["failed"] })).length).toBe(1);
        expect(remotes(home)).toEqual([]);
      } finally {
        await home.cleanup();
      }
    },
  );
});
