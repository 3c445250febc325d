import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { testFilesContract } from "./files-contract.js";
import { startComposeEnv } from "./helpers/compose-env.js";
import { makeHome } from "./helpers/home.js";

// Files and processes in a compose stack's container (busybox), over the host's SSH master.
testFilesContract({
  name: "ext.compose-ssh",
  timeout: 300_000,
  make: async () => {
    const f = await startComposeEnv();
    const profiles = f.env.SANDBOXER_PROFILES_DIR as string;
    writeFileSync(
      join(profiles, "profile.compose-files-small.yaml"),
      [
        "id: profile.compose-files-small",
        "version: 1",
        "extension: ext.compose-ssh",
        "placement: { hosts: [sbx-test-host], fallback: false }",
        "timeout: 90s",
        "settings: { stopTimeoutSeconds: 1 }",
        "files: { maxUpload: 1MiB }",
        "inputs:",
        "  repo: { type: path }",
        "",
      ].join("\n"),
    );
    return {
      home: makeHome(f.env),
      request: { profile: "profile.compose-test", inputs: { repo: f.repo } },
      small: { profile: "profile.compose-files-small", inputs: { repo: f.repo } },
      service: "worker",
      cleanup: () => f.stop(),
    };
  },
});
