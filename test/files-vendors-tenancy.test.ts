/**
 * Tenancy on the vendors' files and processes (issue 17): through the HTTP
 * API, a tenant of another project gets 404 on every files/processes route
 * of a project's E2B, Daytona or Modal sandbox (also with a process id of the
 * first project under its own sandbox), and nothing it tried changed anything.
 */
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Sandbox } from "../src/types.js";
import { VENDORS, vendorProfiles } from "./helpers/vendors.js";
import { type ApiFixture, apiFixture } from "./helpers/api.js";

for (const row of VENDORS) {
  describe(`tenancy on ${row.extension}: another project's sandbox is 404 on every files/processes route`, { timeout: 120_000 }, () => {
    let fx: ApiFixture;
    let fake: { close(): Promise<void> };
    let profiles: { dir: string; name: string };
    let sb: Sandbox;
    let other: Sandbox;

    beforeAll(async () => {
      const started = await row.start();
      fake = started;
      profiles = vendorProfiles(row.extension);
      fx = await apiFixture({}, { ...started.env, SANDBOXER_PROFILES_DIR: join(profiles.dir, "profiles") });
      for (const account of ["p1", "p2"]) await fx.broker.addCredits({ account, amount: 100 });
      const mk = async (token: string) => {
        const r = await fx.call("POST", "/v1/sandboxes", { token, body: { profile: `profile.files-${profiles.name}` } });
        expect(r.status, await r.clone().text()).toBe(201);
        return (await r.json()) as Sandbox;
      };
      sb = await mk(fx.tokens.p1);
      other = await mk(fx.tokens.p2);
    }, 120_000);
    afterAll(async () => {
      await fx?.cleanup();
      await fake?.close();
      if (profiles) rmSync(profiles.dir, { recursive: true, force: true });
    });

    const url = (id: string, q: Record<string, string>) => `/v1/sandboxes/${id}/files?${new URLSearchParams(q)}`;
    const send = (method: string, path: string, token: string, body?: BodyInit, headers: Record<string, string> = {}) =>
      Promise.resolve(fx.app.request(path, { method, headers: { Authorization: `Bearer ${token}`, ...headers }, body: body ?? null }));

    it("p2 cannot read, write, list, delete, start, list, read or kill in p1's sandbox", async () => {
      const started = await fx.call("POST", `/v1/sandboxes/${sb.id}/processes`, { token: fx.tokens.p1, body: { command: ["sleep", "300"] } });
      expect(started.status, await started.clone().text()).toBe(201);
      const p = (await started.json()) as { pid: string };
      expect((await send("PUT", url(sb.id, { path: "secret.txt" }), fx.tokens.p1, "p1 only")).status).toBe(200);
      const t = fx.tokens.p2;
      const attempts: Response[] = [
        await send("GET", url(sb.id, { path: "secret.txt" }), t),
        await send("GET", url(sb.id, { path: ".", list: "1" }), t),
        await send("PUT", url(sb.id, { path: "planted.txt" }), t, "x"),
        await send("PUT", url(sb.id, { path: "d" }), t, execFileSync("tar", ["-cf", "-", "-T", "/dev/null"]), { "Content-Type": "application/x-tar" }),
        await send("DELETE", url(sb.id, { path: "secret.txt" }), t),
        await fx.call("POST", `/v1/sandboxes/${sb.id}/processes`, { token: t, body: { command: ["true"] } }),
        await fx.call("GET", `/v1/sandboxes/${sb.id}/processes`, { token: t }),
        await fx.call("GET", `/v1/sandboxes/${sb.id}/processes/${p.pid}/output`, { token: t }),
        await fx.call("POST", `/v1/sandboxes/${sb.id}/processes/${p.pid}/kill`, { token: t, body: {} }),
        await fx.call("POST", `/v1/sandboxes/${sb.id}/exec`, { token: t, body: { command: ["true"], timeout: "5s" } }),
        await fx.call("GET", `/v1/sandboxes/${other.id}/processes/${p.pid}/output`, { token: t }),
        await fx.call("POST", `/v1/sandboxes/${other.id}/processes/${p.pid}/kill`, { token: t, body: {} }),
      ];
      for (const r of attempts) {
        expect(r.status).toBe(404);
        expect(((await r.json()) as { error?: { code?: string } }).error?.code).toBe("SBX_NOT_FOUND");
      }
      expect(await (await send("GET", url(sb.id, { path: "secret.txt" }), fx.tokens.p1)).text()).toBe("p1 only");
      expect((await send("GET", url(sb.id, { path: "planted.txt" }), fx.tokens.p1)).status).toBe(404);
      const alive = (await (await fx.call("GET", `/v1/sandboxes/${sb.id}/processes`, { token: fx.tokens.p1 })).json()) as { pid: string; state: string }[];
      expect(alive.find((x) => x.pid === p.pid)?.state).toBe("running");
      // p2's own sandbox holds none of p1's files.
      expect((await send("GET", url(other.id, { path: "secret.txt" }), t)).status).toBe(404);
    });
  });
}
