/**
 * Files, processes and streaming exec through the HTTP API (in-process
 * `app.request()` on real bubblewrap sandboxes): streamed uploads past the
 * JSON body limit, tars, listings, links pointing out, the first output chunk
 * arriving while the command still runs, stdin, and tenancy (another
 * project's sandbox is 404 on every one of these routes).
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Sandbox } from "../src/types.js";
import { type ApiFixture, apiFixture } from "./helpers/api.js";

let fx: ApiFixture;
let sb: Sandbox;
let other: Sandbox;
let dir: string;
beforeAll(async () => {
  fx = await apiFixture();
  dir = mkdtempSync(join(tmpdir(), "sbx-api-files-"));
  const mk = async (token: string) => {
    const r = await fx.call("POST", "/v1/sandboxes", { token, body: { profile: "profile.local" } });
    expect(r.status, await r.clone().text()).toBe(201);
    return (await r.json()) as Sandbox;
  };
  sb = await mk(fx.tokens.p1);
  other = await mk(fx.tokens.p2);
}, 120_000);
afterAll(async () => {
  await fx?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const url = (id: string, q: Record<string, string>) => `/v1/sandboxes/${id}/files?${new URLSearchParams(q)}`;
function send(method: string, path: string, token: string, body?: BodyInit, headers: Record<string, string> = {}): Promise<Response> {
  return Promise.resolve(fx.app.request(path, { method, headers: { Authorization: `Bearer ${token}`, ...headers }, body: body ?? null }));
}
const code = async (r: Response) => ((await r.json()) as { error: { code: string } }).error.code;

describe("files over the API", () => {
  it("PUT streams raw bytes past the 64 KiB JSON limit; GET reads them back; list and DELETE", async () => {
    const data = randomBytes(3 * 1024 * 1024);
    const put = await send("PUT", url(sb.id, { path: "up/data.bin", mode: "0640" }), fx.tokens.p1, data);
    expect(put.status, await put.clone().text()).toBe(200);
    expect(await put.json()).toMatchObject({ path: "up/data.bin", bytes: data.length, kind: "file" });
    const get = await send("GET", url(sb.id, { path: "up/data.bin" }), fx.tokens.p1);
    expect(get.status).toBe(200);
    expect(get.headers.get("content-type")).toBe("application/octet-stream");
    expect(Buffer.from(await get.arrayBuffer()).equals(data)).toBe(true);
    const list = await send("GET", url(sb.id, { path: "up", list: "1" }), fx.tokens.p1);
    expect(await list.json()).toMatchObject({
      total: 1,
      truncated: false,
      entries: [{ name: "data.bin", path: "up/data.bin", type: "file", size: data.length, mode: "0640" }],
    });
    // Other routes keep the JSON body limit.
    const big = await fx.call("POST", `/v1/sandboxes/${sb.id}/exec`, {
      token: fx.tokens.p1,
      raw: JSON.stringify({ command: ["true", "x".repeat(70_000)] }),
      headers: { "Content-Type": "application/json" },
    });
    expect(big.status).toBe(400);
    const del = await send("DELETE", url(sb.id, { path: "up" }), fx.tokens.p1);
    expect(del.status).toBe(400);
    const delr = await send("DELETE", url(sb.id, { path: "up", recursive: "1" }), fx.tokens.p1);
    expect(delr.status).toBe(200);
    expect((await send("GET", url(sb.id, { path: "up/data.bin" }), fx.tokens.p1)).status).toBe(404);
  });

  it("a client that hangs up mid-download stops the reader inside the sandbox", async () => {
    const put = await send("PUT", url(sb.id, { path: "hangup.bin" }), fx.tokens.p1, randomBytes(32 * 1024 * 1024));
    expect(put.status).toBe(200);
    const get = await send("GET", url(sb.id, { path: "hangup.bin" }), fx.tokens.p1);
    const reader = (get.body as ReadableStream<Uint8Array>).getReader();
    expect((await reader.read()).done).toBe(false);
    await reader.cancel();
    const readers = async () => {
      const r = await fx.call("POST", `/v1/sandboxes/${sb.id}/exec`, { token: fx.tokens.p1, body: { command: ["ps", "-eo", "args"] } });
      return ((await r.json()) as { stdout: string }).stdout.includes("hangup.bin");
    };
    for (let i = 0; i < 100 && (await readers()); i++) await new Promise((ok) => setTimeout(ok, 100));
    expect(await readers()).toBe(false);
  });

  it("PUT a tar into a directory; GET of a directory is a tar", async () => {
    const src = join(dir, "tree");
    mkdirSync(join(src, "empty"), { recursive: true });
    writeFileSync(join(src, "a.txt"), "alpha\n");
    const tar = execFileSync("tar", ["-C", src, "-cf", "-", "."]);
    const put = await send("PUT", url(sb.id, { path: "tree" }), fx.tokens.p1, tar, { "Content-Type": "application/x-tar" });
    expect(put.status, await put.clone().text()).toBe(200);
    expect(await put.json()).toMatchObject({ kind: "tar", bytes: tar.length });
    const get = await send("GET", url(sb.id, { path: "tree" }), fx.tokens.p1);
    expect(get.headers.get("content-type")).toBe("application/x-tar");
    const out = join(dir, "out");
    mkdirSync(out);
    execFileSync("tar", ["-C", out, "-xf", "-"], { input: Buffer.from(await get.arrayBuffer()) });
    expect(readFileSync(join(out, "tree", "a.txt"), "utf8")).toBe("alpha\n");
    expect(existsSync(join(out, "tree", "empty"))).toBe(true);
  });

  it("links pointing out never serve the host's files; .. climbing out is refused", async () => {
    const mk = await fx.call("POST", `/v1/sandboxes/${sb.id}/exec`, {
      token: fx.tokens.p1,
      body: { command: ["sh", "-c", "ln -sfn /etc/shadow shadow && ln -sfn ../../ up"] },
    });
    expect(mk.status).toBe(200);
    const host = existsSync("/etc/shadow") ? readFileSync("/etc/shadow", "utf8").split("\n")[0] : null;
    for (const path of ["shadow", "up/etc/shadow"]) {
      const r = await send("GET", url(sb.id, { path }), fx.tokens.p1);
      const text = await r.text();
      if (host) expect(text).not.toContain(host);
      expect(r.status).toBe(404);
    }
    const climb = await send("GET", url(sb.id, { path: "../../etc/passwd" }), fx.tokens.p1);
    expect(climb.status).toBe(400);
  });
});

describe("processes and streaming exec over the API", () => {
  it("starts a process, reads its output by offset until done, lists it; kill ends another", async () => {
    const start = await fx.call("POST", `/v1/sandboxes/${sb.id}/processes`, { token: fx.tokens.p1, body: { command: ["sh", "-c", "echo one; echo two"] } });
    expect(start.status, await start.clone().text()).toBe(201);
    const p = (await start.json()) as { pid: string };
    let out = { data: "", nextOffset: 0, done: false };
    let seen = "";
    for (let i = 0; i < 200 && !out.done; i++) {
      const r = await fx.call("GET", `/v1/sandboxes/${sb.id}/processes/${p.pid}/output?offset=${out.nextOffset}`, { token: fx.tokens.p1 });
      out = (await r.json()) as typeof out;
      seen += out.data;
      if (!out.done) await new Promise((ok) => setTimeout(ok, 50));
    }
    expect(seen).toBe("one\ntwo\n");
    const list = (await (await fx.call("GET", `/v1/sandboxes/${sb.id}/processes`, { token: fx.tokens.p1 })).json()) as {
      pid: string;
      state: string;
      exitCode: number;
    }[];
    expect(list.find((x) => x.pid === p.pid)).toMatchObject({ state: "exited", exitCode: 0 });
    const long = (await (await fx.call("POST", `/v1/sandboxes/${sb.id}/processes`, { token: fx.tokens.p1, body: { command: ["sleep", "300"] } })).json()) as {
      pid: string;
    };
    const k = await fx.call("POST", `/v1/sandboxes/${sb.id}/processes/${long.pid}/kill`, { token: fx.tokens.p1, body: { signal: "KILL" } });
    expect(await k.json()).toMatchObject({ pid: long.pid });
    // The answer may come before the end is recorded on a busy machine: the listing says it soon after.
    const state = async () =>
      ((await (await fx.call("GET", `/v1/sandboxes/${sb.id}/processes`, { token: fx.tokens.p1 })).json()) as { pid: string; state: string }[]).find(
        (x) => x.pid === long.pid,
      )?.state;
    for (let i = 0; i < 300 && (await state()) !== "killed"; i++) await new Promise((ok) => setTimeout(ok, 100));
    expect(await state()).toBe("killed");
    const bad = await fx.call("POST", `/v1/sandboxes/${sb.id}/processes/${long.pid}/kill`, { token: fx.tokens.p1, body: { signal: "BOGUS" } });
    expect(bad.status).toBe(400);
  });

  it("stream: true delivers the first chunk while the command still runs, then the exit code", async () => {
    const r = await fx.call("POST", `/v1/sandboxes/${sb.id}/exec`, {
      token: fx.tokens.p1,
      body: { command: ["sh", "-c", "echo first; while [ ! -e go ]; do sleep 0.05; done; echo second >&2; exit 7"], stream: true },
    });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toContain("text/event-stream");
    const reader = (r.body as ReadableStream<Uint8Array>).getReader();
    const dec = new TextDecoder();
    let text = "";
    let released = false;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += dec.decode(value, { stream: true });
      if (!released && text.includes('"first\\n"')) {
        // The command is blocked until this file exists: the chunk came before its end.
        released = true;
        const go = await send("PUT", url(sb.id, { path: "go" }), fx.tokens.p1, "");
        expect(go.status).toBe(200);
      }
    }
    expect(released).toBe(true);
    expect(text).toMatch(/event: stdout\ndata: \{"data":"first\\n"\}/);
    expect(text).toMatch(/event: stderr\ndata: \{"data":"second\\n"\}/);
    expect(text).toMatch(/event: exit\ndata: \{"exitCode":7,"timedOut":false,"truncated":false\}/);
  });

  it("stdin in the body reaches the command; a timeout kills it with 124", async () => {
    const r = await fx.call("POST", `/v1/sandboxes/${sb.id}/exec`, { token: fx.tokens.p1, body: { command: ["sh", "-c", "tr a-z A-Z"], stdin: "hello\n" } });
    expect(await r.json()).toMatchObject({ exitCode: 0, stdout: "HELLO\n" });
    const b = await fx.call("POST", `/v1/sandboxes/${sb.id}/exec`, {
      token: fx.tokens.p1,
      body: { command: ["wc", "-c"], stdinBase64: Buffer.from([0, 1, 2]).toString("base64") },
    });
    expect(((await b.json()) as { stdout: string }).stdout.trim()).toBe("3");
    const t = await fx.call("POST", `/v1/sandboxes/${sb.id}/exec`, { token: fx.tokens.p1, body: { command: ["sleep", "300"], timeout: "1s" } });
    expect(await t.json()).toMatchObject({ exitCode: 124, timedOut: true });
  });
});

describe("tenancy: another project's sandbox is 404 on every files/processes route", () => {
  it("p2 cannot read, write, list, delete, start, list, read or kill in p1's sandbox", async () => {
    const p = (await (await fx.call("POST", `/v1/sandboxes/${sb.id}/processes`, { token: fx.tokens.p1, body: { command: ["sleep", "300"] } })).json()) as {
      pid: string;
    };
    await send("PUT", url(sb.id, { path: "secret.txt" }), fx.tokens.p1, "p1 only");
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
      await fx.call("POST", `/v1/sandboxes/${sb.id}/exec`, { token: t, body: { command: ["true"], stream: true } }),
      // p1's process id under p2's own sandbox is not found either.
      await fx.call("GET", `/v1/sandboxes/${other.id}/processes/${p.pid}/output`, { token: t }),
      await fx.call("POST", `/v1/sandboxes/${other.id}/processes/${p.pid}/kill`, { token: t, body: {} }),
    ];
    for (const r of attempts) {
      expect(r.status).toBe(404);
      expect(await code(r)).toBe("SBX_NOT_FOUND");
    }
    const still = await send("GET", url(sb.id, { path: "secret.txt" }), fx.tokens.p1);
    expect(await still.text()).toBe("p1 only");
    const planted = await send("GET", url(sb.id, { path: "planted.txt" }), fx.tokens.p1);
    expect(planted.status).toBe(404);
    const alive = (await (await fx.call("GET", `/v1/sandboxes/${sb.id}/processes`, { token: fx.tokens.p1 })).json()) as { pid: string; state: string }[];
    expect(alive.find((x) => x.pid === p.pid)?.state).toBe("running");
  });
});
