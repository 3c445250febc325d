import { existsSync, lstatSync, readlinkSync } from "node:fs";

/**
 * Pure construction of the bubblewrap argv for one sandbox. The system is
 * mounted read-only, /etc only in part (no shadow, no ssh keys), the workspace
 * read-write at /workspace, and every namespace is new (network too unless the
 * profile says `network: host`).
 */
export interface BwrapPlan {
  sandboxId: string;
  workspace: string;
  network: "none" | "host";
  /** fd number bwrap writes its JSON info (child pid, namespaces) to. */
  infoFd: number;
  /** Host paths to inspect; injected so tests can plan without touching / . */
  root?: RootLayout;
  /** Are we root? Decides how /dev is made (see devArgv); injected for tests. */
  privileged?: boolean;
  /** Size cap of each tmpfs (/tmp, /run, /dev/shm): RAM a sandbox could otherwise fill past its memory limit. */
  tmpfsBytes?: number;
}

export interface RootLayout {
  /** Top-level system dirs that exist: symlink -> target, dir -> null. */
  systemDirs: Record<string, string | null>;
  etcFiles: string[];
}

const SYSTEM_DIRS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
/** The parts of /etc a shell and common tools need; nothing secret. */
const ETC_ALLOW = [
  "/etc/passwd",
  "/etc/group",
  "/etc/nsswitch.conf",
  "/etc/ld.so.cache",
  "/etc/ld.so.conf",
  "/etc/ld.so.conf.d",
  "/etc/alternatives",
  "/etc/localtime",
  "/etc/os-release",
  "/etc/debian_version",
  "/etc/ssl",
  "/etc/ca-certificates",
  "/etc/profile",
  "/etc/bash.bashrc",
  "/etc/inputrc",
  "/etc/mime.types",
];
const ETC_NETWORK = ["/etc/hosts", "/etc/resolv.conf", "/etc/host.conf", "/etc/gai.conf"];

export const SANDBOX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
export const INIT_ARGV = ["/usr/bin/sleep", "infinity"];
/** The device nodes a sandbox gets when bwrap runs unprivileged (see devArgv). */
const DEVICES = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"];

/**
 * /dev for the sandbox. As root, bwrap's own `--dev` (with a private devpts).
 * Unprivileged, `--dev` makes bwrap map uid 0 to mount devpts and then nest a
 * SECOND user namespace to give the sandbox the caller's uid; the sandbox's
 * other namespaces belong to the first, which no process stays in, so
 * `nsenter` (exec) cannot join them ("reassociate to namespace 'ns/ipc'
 * failed"). So unprivileged sandboxes get a tmpfs /dev with the usual device
 * nodes bound in, and no /dev/pts: no pseudo-terminals inside, exec works.
 */
function devArgv(privileged: boolean, size: string[]): string[] {
  if (privileged) return ["--dev", "/dev", "--perms", "1777", ...size, "--tmpfs", "/dev/shm"];
  const argv = ["--tmpfs", "/dev"];
  for (const d of DEVICES) if (existsSync(d)) argv.push("--dev-bind", d, d);
  argv.push("--symlink", "/proc/self/fd", "/dev/fd", "--symlink", "/proc/self/fd/0", "/dev/stdin");
  argv.push("--symlink", "/proc/self/fd/1", "/dev/stdout", "--symlink", "/proc/self/fd/2", "/dev/stderr", ...size, "--tmpfs", "/dev/shm");
  return argv;
}

export function inspectRoot(): RootLayout {
  const systemDirs: Record<string, string | null> = {};
  for (const d of SYSTEM_DIRS) {
    if (!existsSync(d)) continue;
    const st = lstatSync(d);
    systemDirs[d] = st.isSymbolicLink() ? readlinkSync(d) : null;
  }
  const etcFiles = [...ETC_ALLOW, ...ETC_NETWORK].filter((f) => existsSync(f));
  return { systemDirs, etcFiles };
}

export function bwrapArgv(plan: BwrapPlan): string[] {
  const root = plan.root ?? inspectRoot();
  const argv = ["bwrap", "--unshare-all"];
  if (plan.network === "host") argv.push("--share-net");
  // No --die-with-parent: the sandbox outlives the CLI that created it.
  argv.push("--hostname", plan.sandboxId, "--new-session");
  for (const [dir, target] of Object.entries(root.systemDirs)) {
    if (target === null) argv.push("--ro-bind", dir, dir);
    else argv.push("--symlink", target, dir);
  }
  for (const f of root.etcFiles) {
    // Without a network, resolver config would only mislead; /etc/hosts still names localhost.
    if (plan.network === "none" && ETC_NETWORK.includes(f) && f !== "/etc/hosts") continue;
    argv.push("--ro-bind", f, f);
  }
  const size = plan.tmpfsBytes ? ["--size", String(plan.tmpfsBytes)] : [];
  argv.push("--proc", "/proc", ...devArgv(plan.privileged ?? process.getuid?.() === 0, size), ...size, "--tmpfs", "/tmp", ...size, "--tmpfs", "/run");
  argv.push("--bind", plan.workspace, "/workspace", "--chdir", "/workspace");
  argv.push("--clearenv", "--setenv", "PATH", SANDBOX_PATH, "--setenv", "HOME", "/workspace");
  argv.push("--setenv", "SANDBOXER_ID", plan.sandboxId);
  argv.push("--info-fd", String(plan.infoFd), "--", ...INIT_ARGV);
  return argv;
}

/** Is this argv a bwrap we started for `sandboxId` (outer process or its pid-1 fork)? */
export function isSandboxArgv(argv: string[], sandboxId?: string): string | null {
  if (!argv[0]?.endsWith("bwrap")) return null;
  const i = argv.indexOf("--hostname");
  const id = i >= 0 ? argv[i + 1] : undefined;
  if (!id || !/^sbx-[a-z2-7]{12}$/.test(id) || !argv.includes("SANDBOXER_ID")) return null;
  return sandboxId === undefined || id === sandboxId ? id : null;
}
