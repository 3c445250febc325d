/**
 * Terminals on the metered vendors whose API has them, under tmux like a
 * person (test/helpers/tmux.ts): E2B's PTY API through the official SDK
 * against the envd fake, whose terminals are real ones in the sandbox's VM: a
 * prompt in the sandbox, the window size, a resize passed on, the exit code,
 * and the caller's terminal restored. Daytona and Modal refuse, saying so.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeHome, type TestHome } from "./helpers/home.js";
import { drive, hasTmux } from "./helpers/tmux.js";
import { VENDORS, vendorProfiles } from "./helpers/vendors.js";

for (const row of VENDORS) {
  const pty = row.extension === "ext.e2b" || row.extension === "ext.daytona";
  describe.skipIf(!hasTmux && pty)(`terminals on ${row.extension}`, { timeout: 180_000 }, () => {
    let home: TestHome;
    let fake: { close(): Promise<void> };
    let profiles: { dir: string; name: string };
    let id: string;
    beforeAll(async () => {
      const started = await row.start();
      fake = started;
      profiles = vendorProfiles(row.extension);
      home = makeHome({ ...started.env, SANDBOXER_PROFILES_DIR: join(profiles.dir, "profiles") });
      await home.broker().addCredits({ account: "default", amount: 100 });
      id = (await home.broker().create({ profile: `profile.files-${profiles.name}` })).id;
    }, 120_000);
    afterAll(async () => {
      await home?.cleanup();
      await fake?.close();
      if (profiles) rmSync(profiles.dir, { recursive: true, force: true });
    });

    it.skipIf(!pty)("exec -it: a prompt in the sandbox, the window size, a resize, the exit code, the terminal restored", async () => {
      await drive(home, ["exec", "-it", id, "--", "sh"], /^#\s*$/m);
    });

    it.skipIf(!pty)("sandboxer shell", async () => {
      await drive(home, ["shell", id], /^#\s*$/m);
    });

    it.skipIf(pty)("exec -it is refused with a sentence (the extension does not drive this vendor's terminals)", async () => {
      const err = await home
        .broker()
        .exec(id, ["sh"], { stdin: "inherit", stdout: "inherit", stderr: "inherit" }, { tty: true })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "SBX_UNSUPPORTED", message: expect.stringContaining("cannot give a command a terminal") });
    });
  });
}
