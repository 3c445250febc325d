/**
 * A pseudo-terminal on this machine for a command whose caller is not a
 * terminal (the API's WebSocket exec): util-linux `script` allocates the pty
 * and relays it to pipes we hold, as `kubectl exec -it` has the kubelet do.
 * The command is the extension's own terminal argv (`nsenter` under its own
 * `script` for a local sandbox, `ssh -tt ... podman exec -it` for compose,
 * `ssh -tt` for a VM), so it finds a real terminal on its stdin: it reads the
 * window size there and gets SIGWINCH when it changes, and passes both on
 * (the inner `script` to the sandbox's pty, ssh as a window-change request).
 * The size is set before the command starts and, on a resize, on the pty's
 * slave (`stty -F`), which makes the kernel signal its foreground group.
 */
import { execFile, spawn } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { SandboxerError } from "../errors.js";
import { shellJoin } from "../transport/quote.js";

export interface PtySize {
  cols: number;
  rows: number;
}

export interface PtySession {
  /** Keys typed at the far end (raw bytes: the pty's line discipline echoes and signals). */
  write(data: Uint8Array): void;
  resize(size: PtySize): Promise<void>;
  /** Terminal output (stdout and stderr are one stream on a terminal). */
  onData(fn: (chunk: Buffer) => void): void;
  /** The command's exit code (128 + signal when a signal ended it). */
  readonly exited: Promise<number>;
  /** Hang up: the command gets SIGHUP as when a terminal closes; SIGKILL if it lingers. */
  close(): void;
}

export const MAX_SIDE = 1000;

export function checkSize(s: PtySize): PtySize {
  for (const [k, v] of [["cols", s.cols] as const, ["rows", s.rows] as const]) {
    if (!Number.isInteger(v) || v < 1 || v > MAX_SIDE)
      throw new SandboxerError("SBX_USAGE", `${k}: a whole number from 1 to ${MAX_SIDE}`, { details: { field: k } });
  }
  return { cols: s.cols, rows: s.rows };
}

const WRAPPER_MARK = "stty rows ";

/**
 * The pty slave the session runs on (fd 0 of `script`'s child, the session
 * leader), once that child has set the first size and become the command: a
 * resize applied earlier would be undone by the wrapper's own `stty`.
 */
function settledSlave(scriptPid: number): string | undefined {
  try {
    const child = readFileSync(`/proc/${scriptPid}/task/${scriptPid}/children`, "utf8").trim().split(/\s+/)[0];
    if (!child) return undefined;
    if (readFileSync(`/proc/${child}/cmdline`, "utf8").includes(WRAPPER_MARK)) return undefined;
    const path = readlinkSync(`/proc/${child}/fd/0`);
    return /^\/dev\/pts\/\d+$/.test(path) ? path : undefined;
  } catch {
    return undefined;
  }
}

/** Every process under `root` (by parent pid, as /proc shows them now), with its start time so a reused pid is never signalled. */
export function descendants(root: number): { pid: number; start: string }[] {
  const children = new Map<number, { pid: number; start: string }[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      // Fields after the command name (which may hold spaces and parentheses): state ppid ... starttime (22nd).
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ppid = Number(rest[1]);
      const list = children.get(ppid) ?? [];
      list.push({ pid: Number(name), start: rest[19] ?? "" });
      children.set(ppid, list);
    } catch {
      // gone meanwhile
    }
  }
  const out: { pid: number; start: string }[] = [];
  const queue = [root];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    for (const c of children.get(pid) ?? []) {
      out.push(c);
      queue.push(c.pid);
    }
  }
  return out;
}

function startOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/**
 * Both sides of the window in one TIOCSWINSZ. `stty rows R cols C` sets them
 * one at a time, so the command sees a size that never existed (new rows, old
 * columns) and passes it on; conmon (podman exec) may take two back-to-back
 * changes as one and keep that first, half-made size. perl-base is Essential
 * on Debian; its ioctl.ph gives the request number where libperl has it
 * (0x5414 on x86 and arm otherwise). stty is the fallback when perl fails.
 */
const WINSIZE_PL = `use Fcntl; sysopen(my $t, $ARGV[0], O_RDONLY | O_NOCTTY) or die "$ARGV[0]: $!"; my $req = eval { require "sys/ioctl.ph"; &TIOCSWINSZ } // 0x5414; my $ws = pack("S4", $ARGV[1], $ARGV[2], 0, 0); ioctl($t, $req, $ws) or die "TIOCSWINSZ: $!";`;

function setWindowSize(slave: string, size: PtySize): Promise<void> {
  const stty = () => new Promise<void>((resolve) => execFile("stty", ["-F", slave, "rows", String(size.rows), "cols", String(size.cols)], () => resolve()));
  return new Promise<void>((resolve) =>
    execFile("perl", ["-e", WINSIZE_PL, slave, String(size.rows), String(size.cols)], (err) => resolve(err ? stty() : undefined)),
  );
}

/** Run `argv` (no shell: quoted here) on a fresh pty of `size`. */
export function startPty(argv: readonly string[], size: PtySize, env: NodeJS.ProcessEnv = process.env): PtySession {
  checkSize(size);
  if (!argv.length) throw new SandboxerError("SBX_INTERNAL", "empty argv");
  const inner = `${WRAPPER_MARK}${size.rows} cols ${size.cols} 2>/dev/null; exec ${shellJoin([...argv])}`;
  // detached: its own process group, so a hang-up reaches script and nothing of ours.
  const child = spawn("script", ["--quiet", "--return", "--command", inner, "/dev/null"], { stdio: ["pipe", "pipe", "pipe"], detached: true, env });
  const listeners: ((chunk: Buffer) => void)[] = [];
  const early: Buffer[] = [];
  const deliver = (d: Buffer) => {
    if (listeners.length) for (const fn of listeners) fn(d);
    else early.push(d);
  };
  child.stdout.on("data", deliver);
  // script writes its own complaints here; the user should see them like output.
  child.stderr.on("data", deliver);
  child.stdin.on("error", () => {});
  let slave: string | undefined;
  let ended = false;
  // Resizes apply in order, each once the session has settled (at most a few seconds' wait);
  // keys sent after a resize wait for it, so a command run after a resize sees the new size.
  let resizes: Promise<void> = Promise.resolve();
  let pending = 0;
  const toStdin = (data: Uint8Array) => {
    if (child.stdin.writable) child.stdin.write(data);
  };
  const applyResize = async (next: PtySize) => {
    for (let i = 0; !slave && !ended && i < 250; i++) {
      slave = child.pid ? settledSlave(child.pid) : undefined;
      if (!slave) await new Promise((r) => setTimeout(r, 20));
    }
    const path = slave;
    if (!path || ended) return;
    await setWindowSize(path, next);
  };
  const exited = new Promise<number>((resolve, reject) => {
    child.on("error", (e) => reject(new SandboxerError("SBX_DEPENDENCY_MISSING", `script (util-linux): ${e.message}`, { cause: e })));
    child.on("close", (code, signal) => {
      ended = true;
      resolve(code ?? 128 + (signal === "SIGKILL" ? 9 : 1));
    });
  });
  const signalGroup = (sig: NodeJS.Signals) => {
    try {
      if (child.pid) process.kill(-child.pid, sig);
    } catch {
      // already gone
    }
  };
  return {
    write(data) {
      if (pending) resizes = resizes.then(() => toStdin(data));
      else toStdin(data);
    },
    async resize(next) {
      const size = checkSize(next);
      pending++;
      resizes = resizes.then(() => applyResize(size)).finally(() => pending--);
      return resizes;
    },
    onData(fn) {
      listeners.push(fn);
      for (const d of early.splice(0)) fn(d);
    },
    exited,
    close() {
      if (ended || !child.pid) return;
      // A hang-up reaches the terminal's session leader only; a command it started in the
      // foreground (or a shell that ignores SIGHUP) would live on. Everything under this
      // session is signalled, found now while the tree is still whole.
      const tree = descendants(child.pid);
      const signal = (sig: NodeJS.Signals) => {
        if (!ended) signalGroup(sig);
        for (const p of tree) {
          try {
            if (startOf(p.pid) === p.start) process.kill(p.pid, sig);
          } catch {
            // gone meanwhile
          }
        }
      };
      signal("SIGHUP");
      // Whatever ignored the hang-up, after a grace period (the timer outlives script on purpose).
      setTimeout(() => signal("SIGKILL"), 2000).unref();
    },
  };
}
