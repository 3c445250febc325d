/**
 * What a vendor fake's sandbox runs on: a small "VM" on this machine, so the
 * SDKs' commands and file calls meet a machine of its own, as on the vendor.
 * A bubblewrap pid-1 per sandbox (its own pid, uts and ipc namespaces and
 * hostname; this machine's /usr read-only; its own working directory, /tmp and
 * /etc/shadow from a temp dir), every command entered into it with nsenter.
 * Killing the VM ends every process it ever ran, detached ones too.
 *
 * The fakes' file endpoints resolve a sandbox path as the VM would: inside
 * the temp dir, links followed within it (an absolute link target starts again
 * at the VM's root, `..` stops there), so no request reaches this machine's
 * files. Only the VM's own mounts hold files: the working directory and /tmp.
 */
import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import type { Readable } from "node:stream";

export interface FakeVm {
  /** The temp dir holding the VM's own files. */
  dir: string;
  /** Its working directory inside (E2B /home/user, Daytona /home/daytona, Modal /root). */
  workdir: string;
  hostname: string;
  /** Run argv inside the VM (no shell), in `cwd` (default the working directory), with `env`. */
  spawn(argv: string[], opts?: { cwd?: string; env?: Record<string, string>; stdio?: SpawnOptions["stdio"] }): ChildProcess;
  /** The path on this machine for a path inside the VM, or null when it is none of the VM's own files. */
  resolve(path: string, opts?: { followLast?: boolean }): string | null;
  kill(): void;
}

const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export async function startVm(name: string, workdir: string): Promise<FakeVm> {
  const dir = mkdtempSync(join(tmpdir(), `fake-vm-${name}-`));
  for (const d of ["w", "tmp", "etc"]) mkdirSync(join(dir, d), { mode: 0o755 });
  writeFileSync(join(dir, "etc", "shadow"), `root:*:19000:0:99999:7:::\n# ${name}'s own\n`, { mode: 0o600 });
  const argv = ["bwrap", "--unshare-pid", "--unshare-uts", "--unshare-ipc", "--hostname", name, "--die-with-parent", "--new-session"];
  argv.push(
    "--ro-bind",
    "/usr",
    "/usr",
    "--symlink",
    "usr/bin",
    "/bin",
    "--symlink",
    "usr/lib",
    "/lib",
    "--symlink",
    "usr/lib64",
    "/lib64",
    "--symlink",
    "usr/sbin",
    "/sbin",
  );
  argv.push("--ro-bind", "/etc", "/etc", "--ro-bind", join(dir, "etc", "shadow"), "/etc/shadow");
  argv.push("--proc", "/proc", "--dev", "/dev", "--bind", join(dir, "tmp"), "/tmp", "--bind", join(dir, "w"), workdir, "--chdir", workdir);
  argv.push("--info-fd", "3", "--", "sh", "-c", ": > /tmp/.vm-ready; exec sleep infinity");
  const init = spawn(argv[0] as string, argv.slice(1), { stdio: ["ignore", "ignore", "inherit", "pipe"], detached: true });
  const childPid = await new Promise<number>((resolve, reject) => {
    let buf = "";
    (init.stdio[3] as Readable).on("data", (d: Buffer) => {
      buf += d.toString();
      const m = /"child-pid":\s*(\d+)/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    init.on("error", reject);
    init.on("exit", (code) => reject(new Error(`bwrap exited (${code}) before the fake VM started`)));
  });
  init.unref();
  // child-pid comes before bwrap has set the mounts up: wait for the VM's own first word.
  for (let i = 0; i < 500 && !existsSync(join(dir, "tmp", ".vm-ready")); i++) await new Promise((r) => setTimeout(r, 10));
  const mounts: [string, string][] = [
    [workdir, join(dir, "w")],
    ["/tmp", join(dir, "tmp")],
    ["/etc/shadow", join(dir, "etc", "shadow")],
  ];
  const onHost = (p: string): string | null => {
    for (const [at, host] of mounts) if (p === at || p.startsWith(`${at}/`)) return host + p.slice(at.length);
    return null;
  };
  const resolve = (path: string, opts: { followLast?: boolean } = {}): string | null => {
    const parts = posix
      .normalize(path.startsWith("/") ? path : `${workdir}/${path}`)
      .split("/")
      .filter(Boolean);
    let at = "/";
    for (let hops = 0, i = 0; i < parts.length; i++) {
      const next = posix.join(at, parts[i] as string);
      const host = onHost(next);
      const last = i === parts.length - 1;
      let link: string | null = null;
      try {
        if (host && (!last || opts.followLast !== false) && lstatSync(host).isSymbolicLink()) link = readlinkSync(host);
      } catch {}
      if (link === null) {
        at = next;
        continue;
      }
      if (++hops > 40) return null;
      // The rest of the path, after the link's target (resolved from the VM's root or the link's dir).
      const rest = [...link.split("/").filter(Boolean), ...parts.slice(i + 1)];
      parts.splice(
        0,
        parts.length,
        ...posix
          .normalize(link.startsWith("/") ? `/${rest.join("/")}` : `${at}/${rest.join("/")}`)
          .split("/")
          .filter(Boolean),
      );
      at = "/";
      i = -1;
    }
    return onHost(at);
  };
  return {
    dir,
    workdir,
    hostname: name,
    spawn(cmd, opts = {}) {
      const env = Object.entries({ PATH, HOME: workdir, ...opts.env }).map(([k, v]) => `${k}=${v}`);
      const full = [
        "nsenter",
        "--target",
        String(childPid),
        "--mount",
        "--uts",
        "--ipc",
        "--pid",
        "--root",
        "--wd",
        "--",
        "/usr/bin/env",
        "-i",
        "-C",
        opts.cwd ?? workdir,
        ...env,
        ...cmd,
      ];
      // Own process group on this side: a client that goes away can end the nsenter and what it runs.
      return spawn(full[0] as string, full.slice(1), { stdio: opts.stdio ?? ["ignore", "pipe", "pipe"], detached: true });
    },
    resolve,
    kill() {
      try {
        if (init.pid) process.kill(-init.pid, "SIGKILL");
      } catch {}
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
