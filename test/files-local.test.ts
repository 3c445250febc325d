import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { testFilesContract } from "./files-contract.js";
import { makeHome } from "./helpers/home.js";

/** profile.local with a 1 MiB upload limit, beside the built-in catalog. */
function smallProfile(dir: string): string {
  const profiles = join(dir, "profiles");
  mkdirSync(profiles, { recursive: true });
  writeFileSync(
    join(profiles, "profile.files-small.yaml"),
    ["id: profile.files-small", "version: 1", "extension: ext.local", "files: { maxUpload: 1MiB }", ""].join("\n"),
  );
  return profiles;
}

testFilesContract({
  name: "ext.local",
  make: async () => {
    const seed = makeHome();
    const home = makeHome({ SANDBOXER_PROFILES_DIR: smallProfile(seed.dir) });
    return { home, request: { profile: "profile.local" }, small: { profile: "profile.files-small" }, cleanup: () => seed.cleanup() };
  },
});
