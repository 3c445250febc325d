/**
 * Files in and out, detached processes and exec --timeout on the metered
 * vendors (issue 17), through their official SDKs against the local
 * wire-contract fakes, whose sandboxes are small VMs that really store files
 * (test/fakes/vm.ts): the same suite as local, compose and VM sandboxes
 * (files-contract.ts), one table row per vendor.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { testFilesContract } from "./files-contract.js";
import { makeHome } from "./helpers/home.js";
import { VENDORS, vendorProfiles } from "./helpers/vendors.js";

for (const row of VENDORS) {
  testFilesContract({
    name: row.extension,
    timeout: 240_000,
    make: async () => {
      const fake = await row.start();
      const p = vendorProfiles(row.extension);
      const home = makeHome({ ...fake.env, SANDBOXER_PROFILES_DIR: join(p.dir, "profiles") });
      await home.broker().addCredits({ account: "default", amount: 1000 });
      return {
        home,
        request: { profile: `profile.files-${p.name}` },
        small: { profile: `profile.files-${p.name}-small` },
        cleanup: async () => {
          await fake.close();
          rmSync(p.dir, { recursive: true, force: true });
        },
      };
    },
  });
}
