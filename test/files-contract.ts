/**
 * One suite for files in and out and detached processes (issue 17), run
 * against every backend that offers them, on the real component:
 *
 *   testFilesContract({ name: "ext.local", make: async () => ({ home, request, small }) });
 *
 * Files: a 200 MiB round trip (hashed, never held whole), a directory with a
 * link, an executable and an empty dir through `sandboxer cp`, links pointing
 * out (/etc/shadow, ../../) never reaching the host, the upload limit with
 * nothing half written. Processes: a detached command outlives the CLI that
 * started it, logs follow, kill ends the whole group, --timeout leaves no orphan.
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  createReadStream,
  createWriteStream,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Broker, CreateRequest } from "../src/broker.js";
import type { Sandbox } from "../src/types.js";
import { runCli } from "./helpers/cli.js";
import type { TestHome } from "./helpers/home.js";
import { LocalCommandOutput } from "../src/transport/pipe-into.js";

export type FilesTest = "big" | "tree" | "links" | "limit" | "detach" | "logs" | "kill" | "timeout";

export interface FilesSetup {
  home: TestHome;
  request: CreateRequest;
  /** A request for the same backend whose profile has `files.maxUpload: 1MiB`. */
  small: CreateRequest;
  /** Compose stacks: the service to address. */
  service?: string;
  /** The sandbox runs on this very machine (a loopback VM): check the working directory, not the hostname. */
  sameMachine?: boolean;
  cleanup?: () => Promise<void>;
}

export interface FilesOptions {
  name: string;
  make: () => Promise<FilesSetup>;
  skip?: { reason: string; tests: FilesTest[] }[];
  /** Generous per-test limit for slow backends (ms). */
  timeout?: number;
}

async function fileHash(path: string): Promise<string> {
  const h = createHash("sha256");
  await pipeline(createReadStream(path), h);
  return h.digest("hex");
}

/** A file of `mib` MiB of random bytes (written in chunks, never whole in memory). */
async function randomFile(path: string, mib: number): Promise<void> {
  const chunk = randomBytes(1024 * 1024);
  await pipeline(
    Readable.from(
      (function* () {
        for (let i = 0; i < mib; i++) {
          chunk[0] = i & 0xff;
          yield Buffer.from(chunk);
        }
      })(),
    ),
    createWriteStream(path),
  );
}

async function until(test: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await test()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return test();
}

export function testFilesContract(opts: FilesOptions): void {
  const skip = (t: FilesTest) => (opts.skip ?? []).some((s) => s.tests.includes(t));
  describe(`files and processes contract: ${opts.name}`, { timeout: opts.timeout ?? 180_000 }, () => {
    let setup: FilesSetup;
    let broker: Broker;
    let sb: Sandbox;
    let tmp: string;
    const svc = () => (setup.service ? { service: setup.service } : {});
    const svcFlag = () => (setup.service ? ["--service", setup.service] : []);
    const sh = async (script: string) => broker.exec(sb.id, ["sh", "-c", script], { stdin: "ignore", stdout: "pipe", stderr: "pipe" }, svc());

    beforeAll(async () => {
      setup = await opts.make();
      broker = setup.home.broker();
      sb = await broker.create(setup.request);
      tmp = join(setup.home.dir, "files");
      mkdirSync(tmp, { recursive: true });
    }, 240_000);
    afterAll(async () => {
      await setup?.home.cleanup();
      await setup?.cleanup?.();
    });

    it.skipIf(skip("big"))("round-trips a 200 MiB file, streamed both ways", async () => {
      const src = join(tmp, "big.bin");
      await randomFile(src, 200);
      const want = await fileHash(src);
      const put = await broker.writeFile(sb.id, "big/big.bin", createReadStream(src), svc());
      expect(put.bytes).toBe(200 * 1024 * 1024);
      const inside = await sh("sha256sum big/big.bin");
      expect(inside.stdout?.split(" ")[0]).toBe(want);
      const back = createHash("sha256");
      await pipeline(await broker.openFile(sb.id, "big/big.bin", svc()), back);
      expect(back.digest("hex")).toBe(want);
      // And through cp as a tar of the directory.
      const out = join(tmp, "big-back");
      const r = await runCli(["cp", ...svcFlag(), `${sb.id}:big`, out], setup.home.env, { timeoutMs: 120_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(await fileHash(join(out, "big.bin"))).toBe(want);
      await broker.deleteFile(sb.id, "big", { ...svc(), recursive: true });
    });

    it.skipIf(skip("tree"))("copies a directory with a link, an executable and an empty dir both ways (sandboxer cp)", async () => {
      const src = join(tmp, "tree");
      mkdirSync(join(src, "empty"), { recursive: true });
      mkdirSync(join(src, "sub"));
      writeFileSync(join(src, "sub", "data.txt"), "data\n");
      writeFileSync(join(src, "run.sh"), "#!/bin/sh\necho ran-inside\n", { mode: 0o755 });
      symlinkSync("sub/data.txt", join(src, "link"));
      const up = await runCli(["cp", ...svcFlag(), src, `${sb.id}:tree`], setup.home.env);
      expect(up.code, up.stderr).toBe(0);
      const ran = await sh("./tree/run.sh && cat tree/link && [ -d tree/empty ] && [ -L tree/link ] && echo ok");
      expect(ran.stdout).toBe("ran-inside\ndata\nok\n");
      const listing = await broker.listFiles(sb.id, "tree", svc());
      expect(listing.entries.map((e) => [e.name, e.type])).toEqual([
        ["empty", "dir"],
        ["link", "symlink"],
        ["run.sh", "file"],
        ["sub", "dir"],
      ]);
      expect(listing.entries.find((e) => e.name === "link")?.target).toBe("sub/data.txt");
      expect(listing.entries.find((e) => e.name === "run.sh")?.mode).toBe("0755");
      const out = join(tmp, "tree-back");
      const down = await runCli(["cp", ...svcFlag(), `${sb.id}:tree`, out], setup.home.env);
      expect(down.code, down.stderr).toBe(0);
      expect(readlinkSync(join(out, "link"))).toBe("sub/data.txt");
      expect(statSync(join(out, "run.sh")).mode & 0o111).not.toBe(0);
      expect(statSync(join(out, "empty")).isDirectory()).toBe(true);
      expect(readFileSync(join(out, "sub", "data.txt"), "utf8")).toBe("data\n");
      // A bounded listing says it was cut and how many there are.
      const cut = await broker.listFiles(sb.id, "tree", { ...svc(), limit: 2 });
      expect(cut).toMatchObject({ truncated: true, total: 4 });
      expect(cut.entries.length).toBe(2);
      // `-` streams a tar on stdout.
      const tar = await runCli(["cp", ...svcFlag(), `${sb.id}:tree/sub`, "-"], setup.home.env);
      expect(tar.stdout).toContain("data.txt");
    });

    it.skipIf(skip("links"))("links pointing out (/etc/shadow, ../../) never reach the host, through the broker and cp", async () => {
      const host = existsSync("/etc/shadow") ? readFileSync("/etc/shadow", "utf8") : "";
      const marker = `sbx-escape-${randomBytes(4).toString("hex")}`;
      const made = await sh(`mkdir -p esc && ln -sfn /etc/shadow esc/shadow && ln -sfn ../../ esc/up && ln -sfn ../../../../../../../../tmp esc/tmp`);
      expect(made.exitCode, made.stderr).toBe(0);
      for (const p of ["esc/shadow", "esc/up/etc/shadow"]) {
        const r = await broker.readFile(sb.id, p, svc()).then(
          (x) => x.data.toString(),
          (e: { code: string }) => e.code,
        );
        // The sandbox has no such file of its own (or only its own): never the host's.
        if (host) expect(String(r)).not.toContain(host.split("\n")[0]);
      }
      // A tar of the link holds the link, not what it points at.
      const chunks: Buffer[] = [];
      for await (const c of await broker.getFiles(sb.id, "esc", svc())) chunks.push(c as Buffer);
      const tar = Buffer.concat(chunks).toString("latin1");
      expect(tar).toContain("/etc/shadow");
      if (host) expect(tar).not.toContain(host.split("\n")[0]);
      // Writes through the links land inside the sandbox, never on the host.
      await broker.writeFile(sb.id, `esc/tmp/${marker}`, "x", svc()).catch(() => undefined);
      await broker.writeFile(sb.id, `esc/up/tmp/${marker}`, "x", svc()).catch(() => undefined);
      // So do directories cp'd through them (tar, dd and the sandbox's tar in one pipeline: extraction is still inside).
      const up = join(tmp, `up-${marker}`);
      mkdirSync(up, { recursive: true });
      writeFileSync(join(up, marker), "x");
      for (const dst of ["esc/tmp", "esc/up/tmp"]) await runCli(["cp", ...svcFlag(), up, `${sb.id}:${dst}`], setup.home.env);
      expect(existsSync(`/tmp/${marker}`)).toBe(false);
      // cp of the link itself brings back a link, and cp out through `up` reads the sandbox's tree.
      const out = join(tmp, "shadow-link");
      const r = await runCli(["cp", ...svcFlag(), `${sb.id}:esc/shadow`, out], setup.home.env);
      expect(r.code, r.stderr).toBe(0);
      expect(lstatSync(out).isSymbolicLink()).toBe(true);
      const r2 = await runCli(["cp", ...svcFlag(), `${sb.id}:esc/up/etc/shadow`, join(tmp, "shadow-copy")], setup.home.env);
      if (r2.code === 0 && host) expect(readFileSync(join(tmp, "shadow-copy"), "utf8")).not.toContain(host.split("\n")[0]);
      // A relative path climbing out with .. is refused outright.
      await expect(broker.readFile(sb.id, "../../etc/passwd", svc())).rejects.toMatchObject({ code: "SBX_INPUT_INVALID" });
    });

    it.skipIf(skip("limit"))("refuses an upload over files.maxUpload and leaves nothing half written", async () => {
      const small = await broker.create(setup.small);
      try {
        const big = randomBytes(2 * 1024 * 1024);
        await expect(broker.writeFile(small.id, "lim/file.bin", Readable.from([big.subarray(0, 1 << 20), big.subarray(1 << 20)]), svc())).rejects.toMatchObject(
          { code: "SBX_TOO_LARGE" },
        );
        // A tar over the limit, through the CLI's `-`.
        const src = join(tmp, "limit-src");
        mkdirSync(src, { recursive: true });
        writeFileSync(join(src, "a.bin"), big);
        const tarred = await new Promise<Buffer>((ok) => {
          const t = spawn("tar", ["-C", src, "-cf", "-", "."]);
          const parts: Buffer[] = [];
          t.stdout.on("data", (d: Buffer) => parts.push(d));
          t.on("close", () => ok(Buffer.concat(parts)));
        });
        await expect(broker.putFiles(small.id, "lim", Readable.from([tarred]), svc())).rejects.toMatchObject({ code: "SBX_TOO_LARGE" });
        const cli = await runCli(["cp", ...svcFlag(), "-", `${small.id}:lim2`], setup.home.env, { input: tarred.toString("latin1") });
        expect(`${cli.code} ${cli.stderr}`).toMatch(/^4 /);
        expect(cli.stderr).toContain("SBX_TOO_LARGE");
        // A local directory: its tar, dd counting on this host and the sandbox's side run as one pipeline; the same limit.
        const dir = await runCli(["cp", ...svcFlag(), src, `${small.id}:lim3`], setup.home.env);
        expect(`${dir.code} ${dir.stderr}`).toMatch(/^4 /);
        expect(dir.stderr).toContain("SBX_TOO_LARGE");
        // A packing command that fails midway (after bytes went) writes nothing either.
        const broken = new LocalCommandOutput(["sh", "-c", 'tar -C "$0" -cf - . | head -c 20000; exit 2', src]);
        await expect(broker.putFiles(small.id, "lim4", broken, svc())).rejects.toMatchObject({
          code: "SBX_EXEC_FAILED",
          message: expect.stringContaining("exited 2"),
        });
        const left = await broker.exec(
          small.id,
          ["sh", "-c", "ls -A lim lim2 lim3 lim4 2>/dev/null; true"],
          { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
          svc(),
        );
        expect(left.stdout?.trim() ?? "").not.toMatch(/file\.bin|a\.bin|sbx-upload/);
        // Under the limit it lands; through the pipeline, with the tar's exact size.
        expect((await broker.writeFile(small.id, "lim/ok.txt", "fine", svc())).bytes).toBe(4);
        writeFileSync(join(src, "a.bin"), big.subarray(0, 1000));
        const size = (
          await new Promise<Buffer>((ok) => {
            const t = spawn("tar", ["-C", src, "-cf", "-", "."]);
            const parts: Buffer[] = [];
            t.stdout.on("data", (d: Buffer) => parts.push(d));
            t.on("close", () => ok(Buffer.concat(parts)));
          })
        ).length;
        expect((await broker.putFiles(small.id, "lim5", new LocalCommandOutput(["tar", "-C", src, "-cf", "-", "."]), svc())).bytes).toBe(size);
        expect((await broker.readFile(small.id, "lim5/a.bin", svc())).data).toEqual(big.subarray(0, 1000));
      } finally {
        await broker.destroy(small.id);
      }
    });

    it.skipIf(skip("detach"))("a detached command survives the CLI that started it, runs inside the sandbox, and keeps its output", async () => {
      // It runs inside the sandbox (its hostname, never this machine's; a loopback VM: in the workspace).
      const where = await broker.startProcess(sb.id, setup.sameMachine ? ["pwd"] : ["hostname"], svc());
      expect(await until(async () => (await broker.processOutput(sb.id, where.pid)).done, 15_000)).toBe(true);
      const name = (await broker.processOutput(sb.id, where.pid)).data.trim();
      if (setup.sameMachine) expect(name.endsWith(`/${sb.id}`)).toBe(true);
      else expect(name === "" || name === hostname()).toBe(false);
      const marker = `sbx-${randomBytes(4).toString("hex")}`;
      const r = await runCli(["exec", ...svcFlag(), "--detach", sb.id, "--", "yes", marker], setup.home.env);
      expect(r.code, r.stderr).toBe(0);
      const pid = r.stdout.trim();
      expect(pid).toMatch(/^proc-[a-z2-7]{10}$/);
      // The CLI is gone; the process runs on and its output keeps growing (a bounded ring).
      // More than the ring holds: the oldest bytes are dropped, the newest kept.
      const grew = await until(async () => (await broker.processOutput(sb.id, pid, { offset: 0, maxBytes: 10 })).dropped > 0, 30_000);
      expect(grew).toBe(true);
      const ps = await runCli(["ps", sb.id, "--json"], setup.home.env);
      expect(JSON.parse(ps.stdout).find((p: { pid: string }) => p.pid === pid)?.state).toBe("running");
      const killed = await runCli(["kill", sb.id, pid, "--json"], setup.home.env);
      expect(killed.code, killed.stderr).toBe(0);
      expect(await until(async () => (await broker.listProcesses(sb.id)).find((p) => p.pid === pid)?.state === "killed", 15_000)).toBe(true);
      const after = await sh("ps -o pid,args 2>/dev/null || ps");
      expect(after.stdout).not.toContain(marker);
    });

    it.skipIf(skip("logs"))("logs --follow streams a detached command's output until it ends", async () => {
      const p = await broker.startProcess(sb.id, ["sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.2; done; echo bye >&2; exit 3"], svc());
      const r = await runCli(["logs", sb.id, p.pid, "--follow"], setup.home.env, { timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe("line 1\nline 2\nline 3\nbye\n");
      const info = (await broker.listProcesses(sb.id)).find((x) => x.pid === p.pid);
      expect(info).toMatchObject({ state: "exited", exitCode: 3 });
      expect(info?.endedAt).not.toBeNull();
      const out = await broker.processOutput(sb.id, p.pid, { offset: 7 });
      expect(out).toMatchObject({ data: "line 2\nline 3\nbye\n", offset: 7, done: true, exitCode: 3, dropped: 0 });
    });

    it.skipIf(skip("kill"))("kill ends a detached process's whole group (no child left behind)", async () => {
      const p = await broker.startProcess(sb.id, ["sh", "-c", "sleep 411 & sleep 412 & wait"], svc());
      expect(await until(async () => /sleep 41[12]/.test((await sh("ps -o args 2>/dev/null || ps")).stdout ?? ""), 15_000)).toBe(true);
      const k = await broker.killProcess(sb.id, p.pid);
      expect(k.pid).toBe(p.pid);
      expect(await until(async () => !/sleep 41[12]/.test((await sh("ps -o args 2>/dev/null || ps")).stdout ?? ""), 15_000)).toBe(true);
      expect(await until(async () => (await broker.listProcesses(sb.id)).find((x) => x.pid === p.pid)?.state === "killed", 15_000)).toBe(true);
      await expect(broker.killProcess(sb.id, "proc-aaaaaaaaaa")).rejects.toMatchObject({ code: "SBX_NOT_FOUND" });
      await expect(broker.processOutput(sb.id, "../../etc")).rejects.toMatchObject({ code: "SBX_NOT_FOUND" });
    });

    it.skipIf(skip("timeout"))("exec --timeout kills the command's whole process group: exit 124, no orphan", async () => {
      const r = await runCli(["exec", ...svcFlag(), "--timeout", "2s", sb.id, "--", "sh", "-c", "sleep 421 & sleep 422 & wait"], setup.home.env, {
        timeoutMs: 60_000,
      });
      expect(r.code).toBe(124);
      expect(r.stderr).toContain("timed out");
      expect(await until(async () => !/sleep 42[12]/.test((await sh("ps -o args 2>/dev/null || ps")).stdout ?? ""), 15_000)).toBe(true);
      // A command that ends in time is untouched.
      const ok = await runCli(["exec", ...svcFlag(), "--timeout", "1m", "--json", sb.id, "--", "echo", "in-time"], setup.home.env);
      expect(JSON.parse(ok.stdout)).toMatchObject({ exitCode: 0, stdout: "in-time\n", timedOut: false });
    });
  });
}
