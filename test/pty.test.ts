/**
 * Interactive terminals (`sandboxer shell`, `exec -it`) driven like a person
 * would, under tmux: keys in with send-keys, the screen read with
 * capture-pane. A local sandbox (a host-side pty into its namespaces) and a
 * compose container (`ssh -tt` + `podman exec -it`), locally and through a
 * remote server's terminal WebSocket: a prompt, the window size, a resize
 * passed on, and the caller's terminal restored on exit.
 */
import { afterAll, beforeAll, describe, it } from "vitest";
import { startServer } from "../src/api/server.js";
import { type ComposeEnv, startComposeEnv } from "./helpers/compose-env.js";
import { makeHome, type TestHome } from "./helpers/home.js";
import { drive, hasTmux } from "./helpers/tmux.js";

describe.skipIf(!hasTmux)("interactive terminals under tmux", { timeout: 180_000 }, () => {
  describe("local sandbox", () => {
    let home: TestHome;
    let id: string;
    beforeAll(async () => {
      home = makeHome();
      id = (await home.broker().create({ profile: "profile.local" })).id;
    });
    afterAll(async () => {
      await home?.cleanup();
    });

    it("sandboxer shell: a prompt in the sandbox, the window size, a resize, the terminal restored", async () => {
      // The pty's session leader stays outside the sandbox's pid namespace (the sandbox never holds
      // the host side), so an interactive dash cannot hand the terminal back on exit: it says so and exits 2.
      await drive(home, ["shell", id], /^#\s*$/m, /^back-[23]$/m);
    });

    it("exec -it runs the given command with a terminal", async () => {
      await drive(home, ["exec", "-it", id, "--", "sh"], /^#\s*$/m, /^back-[23]$/m);
    });
  });

  describe("compose container over ssh -tt", () => {
    let f: ComposeEnv;
    let home: TestHome;
    let id: string;
    beforeAll(async () => {
      f = await startComposeEnv();
      home = makeHome(f.env);
      id = (await home.broker().create({ profile: "profile.compose-test", inputs: { repo: f.repo } })).id;
    }, 240_000);
    afterAll(async () => {
      await home?.cleanup();
      await f?.stop();
    });

    it("sandboxer shell --service worker", async () => {
      await drive(home, ["shell", "--service", "worker", id], /#\s*$/m);
    });

    it("the same through SANDBOXER_URL: the server's pty, ssh's window-change, the exit code", async () => {
      // The terminal WebSocket (docs/api.md): the server runs `ssh -tt ... podman exec -it` on a pty of its own.
      const broker = home.broker();
      const server = await startServer(broker, { port: 0, accessLog: () => {}, rateLimit: 0 });
      try {
        const token = (await broker.createToken({ actor: "adm" })).token;
        await drive({ env: { ...home.env, SANDBOXER_URL: server.url, SANDBOXER_TOKEN: token }, dir: home.dir }, ["shell", "--service", "worker", id], /#\s*$/m);
      } finally {
        await server.close();
      }
    });
  });
});
