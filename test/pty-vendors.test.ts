/**
 * Terminals on the metered vendors, under tmux like a person
 * (test/helpers/tmux.ts), each through its official SDK against its local
 * wire-contract fake, whose terminals are real ones in the sandbox's VM: E2B's
 * PTY API (envd), Daytona's toolbox PTY (a WebSocket, resize a REST call) and
 * Modal's exec with `pty`. A prompt in the sandbox, the window size, a resize
 * passed on (not on Modal: its SDK cannot), the exit code, the caller's
 * terminal restored; and an argv full of shell syntax arrives as argv.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shellJoin } from "../src/transport/quote.js";
import { CLI } from "./helpers/cli.js";
import { makeHome, type TestHome } from "./helpers/home.js";
import { drive, hasTmux, tmuxSession } from "./helpers/tmux.js";
import { VENDORS, vendorProfiles } from "./helpers/vendors.js";

for (const row of VENDORS) {
  // Modal's SDK opens a terminal at a size but cannot resize it (src/extensions/modal/pty.ts).
  const resize = row.extension !== "ext.modal";
  describe.skipIf(!hasTmux)(`terminals on ${row.extension}`, { timeout: 180_000 }, () => {
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

    it("exec -it: a prompt in the sandbox, the window size, a resize, the exit code, the terminal restored", async () => {
      await drive(home, ["exec", "-it", id, "--", "sh"], /^#\s*$/m, undefined, { resize });
    });

    it("sandboxer shell", async () => {
      await drive(home, ["shell", id], /^#\s*$/m, undefined, { resize });
    });

    it("exec -it: shell syntax in the argv is never run by the vendor's shell", async () => {
      const t = tmuxSession(home.env, home.dir);
      try {
        await t.waitFor(/^host\$/m);
        const argv = ["printf", "<%s>\\n", "a;echo INJECTED", "$(echo INJECTED)", "it's", "`id`"];
        t.keys(`${shellJoin([CLI, "exec", "-it", id, "--", ...argv])}; echo "back-$?"`);
        const screen = await t.waitFor(/^back-\d+$/m);
        expect(screen).toMatch(/^back-0$/m);
        for (const arg of argv.slice(2)) expect(screen).toContain(`<${arg}>`);
        expect(screen).not.toMatch(/^INJECTED/m);
        expect(screen).not.toMatch(/uid=/);
      } finally {
        t.kill();
      }
    });
  });
}
