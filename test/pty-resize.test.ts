/**
 * The server-side pty (src/sandbox-shell/pty.ts) that remote terminals run
 * on: a resize reaches the command (its SIGWINCH, the new size on its tty),
 * in order, and only the sizes asked for are seen. A size that never existed
 * (new rows, old columns: `stty rows R cols C` makes two changes) would show
 * here only when the command wins a microsecond race; the case that lost it
 * for real, podman's conmon keeping the half-made size, is the compose
 * terminal through a server in test/pty.test.ts.
 */
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { startPty } from "../src/sandbox-shell/pty.js";

describe("server-side pty resize", () => {
  it("one window change with both sides, reported by the command's own SIGWINCH trap", async () => {
    // The trap prints the size the command sees at each SIGWINCH; `go` ends the loop.
    const script = 'trap \'echo "winch $(stty size)"\' WINCH; echo armed; while [ ! -e "$1" ]; do sleep 0.05; done; echo "final $(stty size)"';
    const flag = join(tmpdir(), `sbx-pty-resize-${process.pid}-${Date.now()}`);
    const s = startPty(["sh", "-c", script, "sh", flag], { cols: 80, rows: 24 });
    let out = "";
    s.onData((d) => {
      out += d.toString();
    });
    try {
      const until = async (re: RegExp) => {
        for (let i = 0; i < 600 && !re.test(out); i++) await new Promise((r) => setTimeout(r, 50));
        expect(out).toMatch(re);
      };
      await until(/armed/);
      await s.resize({ cols: 100, rows: 30 });
      await until(/winch 30 100/);
      await s.resize({ cols: 132, rows: 50 });
      await until(/winch 50 132/);
      writeFileSync(flag, "");
      await until(/final 50 132/);
      expect(await s.exited).toBe(0);
      // Only the sizes asked for: no half-made one (30 80, 50 100) in between.
      expect([...out.matchAll(/winch (\d+ \d+)/g)].map((m) => m[1])).toEqual(["30 100", "50 132"]);
    } finally {
      s.close();
      rmSync(flag, { force: true });
    }
  });
});
