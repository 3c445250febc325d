import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Env } from "../config.js";
import { SandboxerError } from "../errors.js";
import type { Host } from "../types.js";
import { runProcess } from "./local.js";
import { shellJoin } from "./quote.js";
import { loginOptions } from "./ssh-target.js";
import { type StreamOptions, streamProcess } from "./stream.js";
import type { RunOptions, RunResult, Transport } from "./types.js";

/**
 * Commands on an SSH host through the system OpenSSH client, so the operator's
 * ~/.ssh/config aliases, agent, ProxyJump and known_hosts apply unchanged.
 * One ControlMaster per host (socket in a private dir under $SANDBOXER_HOME/run/ssh):
 * a create pays for ONE handshake however many commands it runs.
 */
export interface SshTransportOptions {
  host: Host;
  env: Env;
  /** $SANDBOXER_HOME/run: the control sockets go in `ssh/` below it. */
  runDir: string;
  /** Seconds an idle master stays up (ControlPersist). */
  persistSeconds?: number;
}

export interface CopyOptions {
  /** Remove files in the destination that are not in the source (rsync --delete). */
  delete?: boolean;
  signal?: AbortSignal;
  /** Skip rsync (hosts without it; tests of the fallback). */
  method?: "rsync" | "tar";
}

export interface SshTransport extends Transport {
  /**
   * Open (or check) the host's ControlMaster without running a remote command:
   * authenticates once, starts no shell. Throws SBX_HOST_UNREACHABLE.
   */
  connect(opts?: { timeoutMs?: number }): Promise<void>;
  /** Copy a local directory's contents into `remoteDir` (created if missing). */
  copyTo(localDir: string, remoteDir: string, opts?: CopyOptions): Promise<{ method: "rsync" | "tar" }>;
  /** The `ssh` argv (without the remote command), for tools that take one (rsync -e). */
  sshArgv(): string[];
  /**
   * The local argv that runs `argv` on the host over the master, for callers that
   * spawn it themselves with their own stdio (`sandboxer exec`). `stdin: false` adds -n.
   */
  commandArgv(argv: readonly string[], opts: { stdin: boolean; tty?: boolean }): string[];
  /**
   * After a command spawned with commandArgv exited: was its 255 ssh losing the
   * host rather than the command's own code? The master is asked: still up,
   * the connection held and 255 was the command's (null); gone, the host was
   * lost, whether or not ssh's words reached a piped stderr (a drop is seen by
   * the master, whose stderr is /dev/null once it has backgrounded).
   */
  connectionLost(exitCode: number, stderr: string | undefined): Promise<SandboxerError | null>;
  target: string;
}

/** Unix socket paths are limited to 108 bytes; a deep SANDBOXER_HOME falls back to a short per-home dir. */
export function controlDir(runDir: string): string {
  const preferred = join(runDir, "ssh");
  if (preferred.length + 1 + 40 < 100) return preferred;
  const digest = createHash("sha256").update(runDir).digest("hex").slice(0, 12);
  return join(tmpdir(), `sbx-ssh-${process.getuid?.() ?? 0}-${digest}`);
}

// What ssh itself prints when it cannot reach or log in to a host (exit 255).
const UNREACHABLE_RE =
  /(Connection refused|Connection timed out|Connection closed|Could not resolve hostname|No route to host|Permission denied \(|Host key verification failed|Network is unreachable|kex_exchange_identification|Connection reset|port \d+: |Bad configuration option|Can't open user config file|ssh: connect to host)/;

export function sshTransport(opts: SshTransportOptions): SshTransport {
  const { host, env } = opts;
  const target = host.ssh?.host ?? host.name;
  const dir = controlDir(opts.runDir);
  const base = (): string[] => {
    const a = ["ssh", ...loginOptions(host, env)];
    a.push(
      "-o",
      "ControlMaster=auto",
      "-o",
      `ControlPath=${join(dir, "%C")}`,
      "-o",
      `ControlPersist=${opts.persistSeconds ?? 120}`,
      "-o",
      "BatchMode=yes",
      "-o",
      "ConnectTimeout=10",
      "-o",
      "ServerAliveInterval=15",
    );
    return a;
  };
  const ensureDir = () => {
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  };

  const unreachable = (res: RunResult): SandboxerError | null => {
    if (res.code !== 255 || !UNREACHABLE_RE.test(res.stderr)) return null;
    const why = res.stderr.trim().split("\n").filter(Boolean).slice(-2).join("; ");
    return new SandboxerError("SBX_HOST_UNREACHABLE", `host '${host.name}' (${target}): ${why}`, { details: { host: host.name } });
  };

  function commandArgv(argv: readonly string[], co: { stdin: boolean; tty?: boolean }): string[] {
    ensureDir();
    // -tt: a terminal on the far side even though ours comes through a pipe-less spawn (exec -it).
    const mode = co.tty ? ["-tt"] : ["-T", ...(co.stdin ? [] : ["-n"])];
    return [...base(), ...mode, "--", target, shellJoin(argv)];
  }

  async function run(argv: readonly string[], ro: RunOptions = {}): Promise<RunResult> {
    if (!argv.length) throw new SandboxerError("SBX_INTERNAL", "empty argv");
    let cmd = [...argv];
    if (ro.env && Object.keys(ro.env).length) cmd = ["env", ...Object.entries(ro.env).map(([k, v]) => `${k}=${v}`), ...cmd];
    // cwd on the remote side: a fixed script, the directory and argv passed as positional arguments.
    if (ro.cwd) cmd = ["sh", "-c", 'cd "$1" && shift && exec "$@"', "sh", ro.cwd, ...cmd];
    const { cwd: _cwd, env: _env, ...rest } = ro;
    const res = await runProcess(commandArgv(cmd, { stdin: ro.input !== undefined }), rest);
    const down = unreachable(res);
    if (down) throw down;
    return res;
  }

  /** Streamed stdin/stdout over the same master (workspace snapshots and restores). */
  async function stream(argv: readonly string[], so: StreamOptions = {}): Promise<RunResult> {
    if (!argv.length) throw new SandboxerError("SBX_INTERNAL", "empty argv");
    const res = await streamProcess(commandArgv(argv, { stdin: Boolean(so.stdin || so.stdinFile) }), so);
    const down = unreachable(res);
    if (down) throw down;
    return res;
  }

  async function copyTo(localDir: string, remoteDir: string, co: CopyOptions = {}): Promise<{ method: "rsync" | "tar" }> {
    ensureDir();
    if (co.method === "tar") {
      await tarCopy(localDir, remoteDir, co.signal);
      return { method: "tar" };
    }
    const src = localDir.endsWith("/") ? localDir : `${localDir}/`;
    // --rsync-path runs on the remote shell: create the destination in the same session.
    const rsyncPath = `${shellJoin(["mkdir", "-p", remoteDir])} && rsync`;
    // --protect-args: the remote path travels outside the remote shell, so no word in it is split or globbed there.
    const argv = [
      "rsync",
      "-a",
      "--protect-args",
      ...(co.delete ? ["--delete"] : []),
      "-e",
      shellJoin(base()),
      `--rsync-path=${rsyncPath}`,
      "--",
      src,
      `${target}:${remoteDir}/`,
    ];
    try {
      const res = await runProcess(argv, { signal: co.signal });
      if (res.code === 0) return { method: "rsync" };
      const down = unreachable({ ...res, code: res.stderr.includes("connection unexpectedly closed") && UNREACHABLE_RE.test(res.stderr) ? 255 : res.code });
      if (down) throw down;
      // 127 / "command not found": no rsync on the host; anything else is a real copy failure.
      if (!/rsync: (command )?not found|rsync: No such file|code 127|remote command not found/.test(res.stderr)) {
        throw new SandboxerError("SBX_PROVISION_FAILED", `rsync to ${host.name}:${remoteDir} failed (exit ${res.code}): ${res.stderr.trim().slice(-500)}`);
      }
    } catch (err) {
      if (!(err instanceof SandboxerError && err.code === "SBX_DEPENDENCY_MISSING")) throw err;
    }
    await tarCopy(localDir, remoteDir, co.signal);
    return { method: "tar" };
  }

  /** Fallback without rsync: `tar c | ssh host 'mkdir -p DIR && tar x'` over the same master. */
  function tarCopy(localDir: string, remoteDir: string, signal?: AbortSignal): Promise<void> {
    const remote = shellJoin(["sh", "-c", 'mkdir -p "$1" && tar -C "$1" -xf -', "sh", remoteDir]);
    const sshArgs = [...base(), "-T", "--", target, remote];
    return new Promise((resolve, reject) => {
      const tar = spawn("tar", ["-C", localDir, "-cf", "-", "."], { stdio: ["ignore", "pipe", "pipe"], signal });
      const ssh = spawn(sshArgs[0] as string, sshArgs.slice(1), { stdio: ["pipe", "ignore", "pipe"], signal });
      let err = "";
      tar.stderr.on("data", (d: Buffer) => {
        err += d.toString();
      });
      ssh.stderr.on("data", (d: Buffer) => {
        err += d.toString();
      });
      tar.stdout.pipe(ssh.stdin);
      tar.on("error", reject);
      ssh.on("error", reject);
      ssh.on("close", (code) => {
        if (code === 0) resolve();
        else
          reject(
            new SandboxerError(
              code === 255 ? "SBX_HOST_UNREACHABLE" : "SBX_PROVISION_FAILED",
              `copy to ${host.name}:${remoteDir} failed: ${err.trim().slice(-500)}`,
            ),
          );
      });
    });
  }

  async function connect(co: { timeoutMs?: number } = {}): Promise<void> {
    ensureDir();
    const check = await runProcess([...base(), "-O", "check", "--", target], { timeoutMs: 5000 }).catch(() => null);
    if (check?.code === 0) return;
    // -f -N: authenticate, then background as the master (ControlPersist) with no session.
    const res = await spawnUntilExit([...base(), "-f", "-N", "--", target], co.timeoutMs ?? 20_000);
    const down = unreachable(res);
    if (down) throw down;
    if (res.code !== 0)
      throw new SandboxerError("SBX_HOST_UNREACHABLE", `host '${host.name}' (${target}): ssh exited ${res.code}: ${res.stderr.trim().slice(-300)}`, {
        details: { host: host.name },
      });
  }

  return {
    host,
    target,
    connect,
    run,
    stream,
    copyTo,
    sshArgv: base,
    commandArgv,
    async connectionLost(exitCode, stderr = "") {
      if (exitCode !== 255) return null;
      // The master still up means the connection held: 255 was the command's own (whatever it printed).
      const check = await runProcess([...base(), "-O", "check", "--", target], { timeoutMs: 5000 }).catch(() => null);
      if (check?.code === 0) return null;
      const said = unreachable({ code: 255, signal: null, stdout: "", stderr });
      if (said) return said;
      const words = stderr
        .trim()
        .split("\n")
        .filter((l) => /^(ssh: |Connection |client_loop: |Timeout, server |mux_client_|Control socket)/.test(l))
        .slice(-2);
      return new SandboxerError(
        "SBX_HOST_UNREACHABLE",
        `host '${host.name}' (${target}) dropped the connection${words.length ? ` (${words.join("; ")})` : ""}; the command may still be running there`,
        { details: { host: host.name } },
      );
    },
    async close() {
      // `-O stop`, not `exit`: another process (a concurrent create, `serve`) may be mid-command
      // on this master; it finishes, then the master exits, so no ssh outlives the work.
      if (!existsSync(dir)) return;
      await runProcess([...base(), "-O", "stop", "--", target], { timeoutMs: 5000 }).catch(() => undefined);
    },
  };
}

/** Is this transport able to copy over SSH (vs. a local transport)? */
export function isSshTransport(t: Transport): t is SshTransport {
  return typeof (t as Partial<SshTransport>).copyTo === "function";
}

/**
 * Like runProcess, but settles when ssh itself exits: with -f the backgrounded
 * master keeps our stderr pipe open, so waiting for the pipes would wait for the master.
 */
function spawnUntilExit(argv: string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(new SandboxerError("SBX_DEPENDENCY_MISSING", `ssh: ${err.message}`, { cause: err }));
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      // Give already-written stderr a moment to arrive, then let go of the pipe the master holds.
      setTimeout(() => {
        child.stderr?.destroy();
        resolve({ code: code ?? 255, signal, stdout: "", stderr });
      }, 20);
    });
  });
}
