/**
 * Drive an interactive CLI session under tmux as a person would: keys in with
 * send-keys, the screen read with capture-pane, a window resize, and the
 * caller's terminal settings compared before and after (test/pty.test.ts,
 * test/pty-remote.test.ts, test/pty-vendors.test.ts).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import type { Env } from "../../src/config.js";
import { shellJoin } from "../../src/transport/quote.js";
import { CLI } from "./cli.js";
import type { TestHome } from "./home.js";

export const hasTmux = spawnSync("tmux", ["-V"]).status === 0;

/** One private tmux server per session (its own socket), killed afterwards. */
export function tmuxSession(env: Env, dir: string) {
  const socket = `sbx-pty-${randomBytes(4).toString("hex")}`;
  const tmux = (...args: string[]) => execFileSync("tmux", ["-L", socket, ...args], { encoding: "utf8" });
  // The vendors' settings too: their fakes' URLs and keys (test/pty-vendors.test.ts).
  const vars = Object.entries(env)
    .filter(([k, v]) => /^(SANDBOXER|E2B|DAYTONA|MODAL)_/.test(k) && v !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  tmux("new-session", "-d", "-x", "120", "-y", "40", "-s", "t", shellJoin(["env", ...vars, `PATH=${process.env.PATH}`, "PS1=host$ ", "sh"]));
  const screen = () => tmux("capture-pane", "-p", "-t", "t");
  return {
    keys(text: string) {
      tmux("send-keys", "-t", "t", "-l", text);
      tmux("send-keys", "-t", "t", "Enter");
    },
    resize: (x: number, y: number) => tmux("resize-window", "-t", "t", "-x", String(x), "-y", String(y)),
    screen,
    async waitFor(re: RegExp, ms = 60_000): Promise<string> {
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

/** `resize: false` for a backend that cannot pass a window size change on (Modal). */
export async function drive(
  home: Pick<TestHome, "env" | "dir">,
  command: string[],
  shellPrompt: RegExp,
  exitLine = /^back-3$/m,
  opts: { resize?: boolean } = {},
): Promise<void> {
  const t = tmuxSession(home.env, home.dir);
  try {
    await t.waitFor(/^host\$/m);
    t.keys(`stty -g > ${t.files.before}; ${shellJoin([CLI, ...command])}; echo "back-$?"; stty -g > ${t.files.after}; echo "$((1+1))-SAVED"`);
    await t.waitFor(shellPrompt);
    t.keys("echo $((6*7))");
    await t.waitFor(/^42$/m);
    t.keys("stty size");
    await t.waitFor(/^40 120$/m);
    if (opts.resize !== false) {
      t.resize(100, 30);
      // A resize travels asynchronously (SIGWINCH -> our CLI -> ssh's window-change or the
      // WebSocket -> podman's resize): a `stty size` typed before it lands still says 40 120, so
      // ask again until the new size shows, as a person would.
      const deadline = Date.now() + 60_000;
      for (;;) {
        t.keys("stty size");
        try {
          await t.waitFor(/^30 100$/m, 3_000);
          break;
        } catch (err) {
          if (Date.now() > deadline) throw err;
        }
      }
    }
    t.keys("exit 3");
    // The typed line wraps where its length says (the checkout's path is in it): the marker is
    // computed, so the echoed command can never put it at the start of a screen line.
    await t.waitFor(/^2-SAVED$/m);
    expect(t.screen()).toMatch(exitLine);
    // The caller's terminal settings are exactly what they were before the session.
    expect(readFileSync(t.files.after, "utf8")).toBe(readFileSync(t.files.before, "utf8"));
  } finally {
    t.kill();
  }
}
