/**
 * Interactive terminals (`sandboxer shell`, `exec -it`) driven like a person
 * would, under tmux: keys in with send-keys, the screen read with
 * capture-pane. A local sandbox (a host-side pty into its namespaces) and a
 * compose container (`ssh -tt` + `podman exec -it`): a prompt, the window
 * size, a resize passed on, and the caller's terminal restored on exit.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shellJoin } from "../src/transport/quote.js";
import type { Env } from "../src/config.js";
import { CLI } from "./helpers/cli.js";
import { type ComposeEnv, startComposeEnv } from "./helpers/compose-env.js";
import { makeHome, type TestHome } from "./helpers/home.js";

const hasTmux = spawnSync("tmux", ["-V"]).status === 0;

/** One private tmux server per session (its own socket), killed afterwards. */
function tmuxSession(env: Env, dir: string) {
  const socket = `sbx-pty-${randomBytes(4).toString("hex")}`;
  const tmux = (...args: string[]) => execFileSync("tmux", ["-L", socket, ...args], { encoding: "utf8" });
  const vars = Object.entries(env).filter(([k, v]) => k.startsWith("SANDBOXER_") && v !== undefined).map(([k, v]) => `${k}=${v}`);
  tmux("new-session", "-d", "-x", "120", "-y", "40", "-s", "t", shellJoin(["env", ...vars, `PATH=${process.env.PATH}`, "PS1=host$ ", "sh"]));
  const screen = () => tmux("capture-pane", "-p", "-t", "t");
  return {
    keys(text: string) {
      tmux("send-keys", "-t", "t", "-l", text);
      tmux("send-keys", "-t", "t", "Enter");
    },
    resize: (x: number, y: number) => tmux("resize-window", "-t", "t", "-x", String(x), "-y", String(y)),
    screen,
    async waitFor(re: RegExp, ms = 30_000): Promise<string> {
      const end = Date.now() + ms;
      for (;;) {
        const s = screen();
        if (re.test(s)) return s;
        if (Date.now() > end) throw new Error(`screen never matched ${re}:\n${s}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    files: { before: join(dir, `${socket}.before`), after: join(dir, `${socket}.after`) },
    kill: () => {
      try {
        tmux("kill-server");
      } catch {}
    },
  };
}

async function drive(home: TestHome, command: string[], shellPrompt: RegExp, exitLine = /^back-3$/m): Promise<void> {
  const t = tmuxSession(home.env, home.dir);
  try {
    await t.waitFor(/^host\$/m);
    t.keys(`stty -g > ${t.files.before}; ${shellJoin([CLI, ...command])}; echo "back-$?"; stty -g > ${t.files.after}; echo SAVED`);
    await t.waitFor(shellPrompt);
    t.keys("echo $((6*7))");
    await t.waitFor(/^42$/m);
    t.keys("stty size");
    await t.waitFor(/^40 120$/m);
    t.resize(100, 30);
    t.keys("stty size");
    await t.waitFor(/^30 100$/m);
    t.keys("exit 3");
    await t.waitFor(/^SAVED$/m);
    expect(t.screen()).toMatch(exitLine);
    // The caller's terminal settings are exactly what they were before the session.
    expect(readFileSync(t.files.after, "utf8")).toBe(readFileSync(t.files.before, "utf8"));
  } finally {
    t.kill();
  }
}

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
  });
});
