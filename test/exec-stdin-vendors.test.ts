/**
 * Stdin for `exec` on the metered vendors (issue 17), each through its
 * official SDK against its local wire-contract fake, where the command really
 * runs: E2B (envd's SendInput / CloseStdin) and Modal (the exec's stdin
 * stream) take the API's `stdin` / `stdinBase64` and the CLI's piped stdin,
 * bytes intact and then EOF; Daytona's session execute has no stdin, so the
 * API refuses it with a sentence and nothing runs. Another project's token
 * gets 404 and the command never sees its input.
 */
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Sandbox } from "../src/types.js";
import { type ApiFixture, apiFixture } from "./helpers/api.js";
import { runCli } from "./helpers/cli.js";
import { VENDORS, vendorProfiles } from "./helpers/vendors.js";

for (const row of VENDORS) {
  const takesStdin = row.extension !== "ext.daytona";
  describe(`exec stdin on ${row.extension}`, { timeout: 120_000 }, () => {
    let fx: ApiFixture;
    let fake: { close(): Promise<void> };
    let profiles: { dir: string; name: string };
    let sb: Sandbox;
    beforeAll(async () => {
      const started = await row.start();
      fake = started;
      profiles = vendorProfiles(row.extension);
      fx = await apiFixture({}, { ...started.env, SANDBOXER_PROFILES_DIR: join(profiles.dir, "profiles") });
      await fx.broker.addCredits({ account: "p1", amount: 100 });
      const r = await fx.call("POST", "/v1/sandboxes", { token: fx.tokens.p1, body: { profile: `profile.files-${profiles.name}` } });
      expect(r.status, await r.clone().text()).toBe(201);
      sb = (await r.json()) as Sandbox;
    }, 120_000);
    afterAll(async () => {
      await fx?.cleanup();
      await fake?.close();
      if (profiles) rmSync(profiles.dir, { recursive: true, force: true });
    });
    const exec = (body: Record<string, unknown>, token = fx.tokens.p1) => fx.call("POST", `/v1/sandboxes/${sb.id}/exec`, { token, body });

    it.runIf(takesStdin)("API: stdin text and stdinBase64 bytes reach the command, then EOF", async () => {
      expect(await (await exec({ command: ["sh", "-c", "tr a-z A-Z"], stdin: "hello\n" })).json()).toMatchObject({ exitCode: 0, stdout: "HELLO\n" });
      const bytes = await (await exec({ command: ["od", "-An", "-tx1"], stdinBase64: Buffer.from([0, 1, 2, 255]).toString("base64") })).json();
      expect((bytes as { stdout: string }).stdout.trim()).toBe("00 01 02 ff");
      // A command that never reads its stdin still ends, with its own exit code.
      expect(await (await exec({ command: ["sh", "-c", "exit 5"], stdin: "x".repeat(40_000) })).json()).toMatchObject({ exitCode: 5 });
      // With a timeout too (the command runs in its own group, stdin still reaches it).
      expect(await (await exec({ command: ["cat"], stdin: "timed\n", timeout: "60s" })).json()).toMatchObject({
        exitCode: 0,
        stdout: "timed\n",
        timedOut: false,
      });
    });

    it.runIf(takesStdin)("CLI: piped stdin reaches the command, 1 MiB intact", async () => {
      const data = randomBytes(512 * 1024).toString("hex");
      const r = await runCli(["exec", sb.id, "--", "sh", "-c", "wc -c; echo done >&2"], fx.home.env, { input: data });
      expect(r.stderr).toContain("done");
      expect(r.stdout.trim()).toBe(String(data.length));
      expect(r.code).toBe(0);
      const upper = await runCli(["exec", sb.id, "--", "tr", "a-z", "A-Z"], fx.home.env, { input: "piped\n" });
      expect(upper.stdout).toBe("PIPED\n");
    });

    it.runIf(!takesStdin)("API: stdin is refused with a sentence, and nothing runs", async () => {
      const r = await exec({ command: ["sh", "-c", "touch ran"], stdin: "hello\n" });
      expect(await r.json()).toMatchObject({ error: { code: "SBX_UNSUPPORTED", message: expect.stringContaining("cannot pass stdin") } });
      const left = await exec({ command: ["sh", "-c", "ls ran 2>/dev/null; true"] });
      expect(((await left.json()) as { stdout: string }).stdout).toBe("");
    });

    it("another project's token gets 404, and the command never runs", async () => {
      await fx.broker.addCredits({ account: "p2", amount: 1 });
      const r = await exec({ command: ["sh", "-c", "cat > planted"], stdin: "p2 was here\n" }, fx.tokens.p2);
      expect(r.status).toBe(404);
      const left = await exec({ command: ["sh", "-c", "cat planted 2>/dev/null; true"] });
      expect(((await left.json()) as { stdout: string }).stdout).toBe("");
    });
  });
}
