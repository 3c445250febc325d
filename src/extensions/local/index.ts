import { crashPoint } from "../../faults.js";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { expandHome } from "../../config.js";
import { SandboxerError } from "../../errors.js";
import { SANDBOX_ID_RE } from "../../ids.js";
import { childrenOf, findProcesses, isSameProcessAlive, processStartTime, readCmdline } from "../../proc.js";
import { archiveDir, extractArchive } from "../../snapshots/archive.js";
import { jsonObject } from "../../types.js";
import { type BackendResource, defineExtension, type ExtensionContext } from "../define.js";
import { limitAmount, resolveLimits } from "../../catalog/limits.js";
import { runInSandbox } from "../../sandbox-shell/exec.js";
import { bwrapArgv, INIT_ARGV, isSandboxArgv } from "./bwrap.js";
import { localCommand } from "./command.js";
import { confine, oomKills, procsFiles, release } from "./limits/apply.js";
import { type LocalHandle, localHandle } from "./handle.js";
import { cgroupHost, listCgroups } from "./limits/cgroups.js";
import { confinedArgv } from "./limits/plan.js";
import { startDetached } from "./spawn.js";

const inputs = z.object({
  /** A local directory copied into the workspace before the sandbox starts. */
  repo: z.string().optional(),
});

function dirs(ctx: Pick<ExtensionContext, "paths" | "env">, id: string) {
  return { workspace: join(ctx.paths.workspaces, id), runDir: join(ctx.paths.run, id), home: ctx.paths.home, env: ctx.env };
}

function nsOf(pid: number | string, ns: string): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/${ns}`);
  } catch {
    return null;
  }
}

/** The sandbox's pid-1, if it is still the process we started. */
function livePid(h: Pick<LocalHandle, "childPid" | "childStart"> | null): number | null {
  if (!h?.childPid) return null;
  return isSameProcessAlive(h.childPid, h.childStart ?? null) ? h.childPid : null;
}

async function waitGone(pids: number[], ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (pids.every((p) => !isSameProcessAlive(p, null))) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

export default defineExtension({
  id: "ext.local",
  kind: "self-hosted",
  description: "Namespace sandbox on this machine (bubblewrap): workspace at /workspace, read-only system, no network unless the profile allows",
  capabilities: { snapshot: true, restore: true, build: false, exec: true, limits: true, files: true, processes: true, pty: true },
  // Processes, cgroups and directories on this machine only.
  placement: { hosts: ["localhost"], shell: true },
  inputs,
  handle: localHandle,

  preflight(input, env, plan) {
    // A restore's workspace is the snapshot's: `repo` is not copied, so it need not exist.
    if (!input.repo || plan.restoring) return;
    const src = expandHome(input.repo, env);
    if (!existsSync(src) || !statSync(src).isDirectory()) {
      throw new SandboxerError("SBX_INPUT_INVALID", `input 'repo': ${input.repo} is not a directory on this machine`, { details: { field: "repo" } });
    }
  },

  async provision(ctx, input) {
    const id = ctx.sandbox.id;
    const network = ctx.profile.network;
    const where = dirs(ctx, id);
    const { workspace, runDir } = where;
    const handle: LocalHandle = { workspace, runDir, network };
    mkdirSync(workspace, { recursive: true, mode: 0o755 });
    mkdirSync(runDir, { recursive: true, mode: 0o700 });
    // No checkpoint: teardown finds a sandbox's directories, cgroups, mounts and processes from its id alone
    // (release in limits/apply.ts, findProcesses by argv), so a crash at any point leaves nothing it cannot
    // find, and a create saves a durable store round trip for each checkpoint it would have made. The handle
    // is recorded with `ready`.
    crashPoint("local-dirs");
    // Cgroups and the workspace's own filesystem come first: the copy below already counts against them.
    const limits = resolveLimits(ctx.profile.limits).limits;
    await confine(id, limits, where, ctx.signal, (c) => {
      handle.limits = c;
    });
    crashPoint("local-confined");
    if (ctx.restoreFrom) {
      // A restore's workspace is the snapshot's: it already holds whatever `repo` put there.
      ctx.progress(`restoring the workspace from ${ctx.restoreFrom.id}`);
      await extractArchive(ctx.transport, workspace, ctx.restoreFrom, ctx.signal);
    } else if (input.repo) {
      ctx.progress(`copying ${input.repo} into the workspace`);
      // realpath: the workspace may be a link to a spare filesystem (limits/spares.ts), and cpSync will not copy a directory onto a link.
      cpSync(expandHome(input.repo, ctx.env), realpathSync(workspace), { recursive: true, verbatimSymlinks: true });
    }
    ctx.progress("starting bubblewrap");
    const memory = limitAmount(limits.memory);
    const bwrap = bwrapArgv({ sandboxId: id, workspace, network, infoFd: 3, ...(Number.isFinite(memory) ? { tmpfsBytes: memory } : {}) });
    const argv = confinedArgv(procsFiles(handle.limits ?? { cgroups: [] }), handle.limits?.rlimits ?? [], bwrap);
    const started = await startDetached(argv, join(runDir, "bwrap.log"), ctx.signal);
    handle.pid = started.pid;
    handle.childPid = started.childPid;
    handle.childStart = processStartTime(started.childPid) ?? undefined;
    crashPoint("local-started");
    return handle;
  },

  // A warm pool member gets the consumer's repo at claim, the same copy provision makes.
  perRequest: {
    inputs: ["repo"],
    async apply(ctx, h, input) {
      if (!input.repo) return;
      ctx.progress(`copying ${input.repo} into the workspace`);
      cpSync(expandHome(input.repo, ctx.env), realpathSync(h.workspace), { recursive: true, verbatimSymlinks: true });
    },
  },

  async waitReady(ctx, h) {
    const pid = livePid(h);
    if (!pid) throw new SandboxerError("SBX_PROVISION_FAILED", `sandbox init process exited: ${tail(join(h.runDir, "bwrap.log"))}`);
    // bwrap reports its pid 1 right after clone, before it has built the sandbox's root:
    // an exec that came now would find no /usr. Ready is when pid 1 has started the init command.
    while (!childrenOf(pid).some((c) => readCmdline(c)?.join("\0") === INIT_ARGV.join("\0"))) {
      if (!livePid(h)) throw new SandboxerError("SBX_PROVISION_FAILED", `sandbox init process exited during setup: ${tail(join(h.runDir, "bwrap.log"))}`);
      if (ctx.signal.aborted) throw ctx.signal.reason;
      await new Promise((r) => setTimeout(r, 2));
    }
    // Ready means the init runs in namespaces of its own, not ours.
    const own = ["pid", "mnt", "uts", "ipc", ...(h.network === "none" ? ["net"] : [])];
    for (const ns of own) {
      const theirs = nsOf(pid, ns);
      if (!theirs || theirs === nsOf("self", ns)) {
        throw new SandboxerError("SBX_PROVISION_FAILED", `sandbox init is not in a ${ns} namespace of its own`);
      }
    }
    return {
      kind: "namespace",
      host: "localhost",
      hostname: ctx.sandbox.id,
      workspace: h.workspace,
      mountedAt: "/workspace",
      network: h.network,
      pid,
      exec: `sandboxer exec ${ctx.sandbox.id} -- CMD...`,
      // Which mechanism enforces each limit (and what it leaves out): for operators, without server paths.
      ...(h.limits ? { limits: jsonObject(h.limits.plan) } : {}),
    };
  },

  async alive(_ctx, h) {
    return livePid(h) !== null;
  },

  async teardown(ctx, h) {
    const id = ctx.sandbox.id;
    const where = dirs(ctx, id);
    const { workspace, runDir } = where;
    // By argv: a create that crashed before `ready` recorded no handle (and so no pid).
    const pids = new Set(findProcesses((argv) => isSandboxArgv(argv, id) !== null));
    const child = livePid(h);
    if (child) pids.add(child);
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
      }
    }
    if (!(await waitGone([...pids], 5000))) {
      throw new SandboxerError("SBX_TEARDOWN_FAILED", `processes of ${id} still alive after SIGKILL: ${[...pids].join(", ")}`);
    }
    // What the pid namespace did not take with it (exec's outer processes), the cgroups, the workspace mount.
    await release(id, h?.limits, where);
    rmSync(workspace, { recursive: true, force: true });
    rmSync(runDir, { recursive: true, force: true });
  },

  async snapshot(ctx, h, dest) {
    await archiveDir(ctx.transport, h.workspace, dest, ctx.signal);
  },

  async exec(ctx, h, argv, io, opts) {
    const confined = h.limits ?? { cgroups: [], rlimits: [] };
    // localCommand joins the sandbox's namespaces, cgroups and rlimits: nothing exec starts is outside its limits.
    const oomBefore = oomKills(confined);
    const result = await runInSandbox(argv, io, opts, async (a, o) => localCommand(ctx, h, a, o));
    const killed = oomKills(confined) - oomBefore;
    if (killed > 0) {
      const note = `sandboxer: the sandbox reached its memory limit (${h.limits?.plan.memory.limit}); the kernel's OOM killer ended ${killed} process(es)
`;
      if (result.stderr !== undefined) result.stderr += note;
      else process.stderr.write(note);
      result.oomKilled = killed;
    }
    return result;
  },

  async sandboxCommand(ctx, h, argv, opts) {
    return localCommand(ctx, h, argv, opts);
  },

  async list(ctx) {
    const found: BackendResource[] = [];
    // Only sandboxes of this SANDBOXER_HOME: another home's sandboxes are not ours to call stale.
    const mine = (argv: string[]) => {
      const id = isSandboxArgv(argv);
      return id && argv.includes(join(ctx.paths.workspaces, id)) ? id : null;
    };
    for (const pid of findProcesses((argv) => mine(argv) !== null)) {
      const id = mine(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(0, -1));
      if (id) found.push({ sandboxId: id, kind: "process", ref: String(pid) });
    }
    for (const [id, cgs] of listCgroups(cgroupHost(ctx.paths.home, ctx.env))) {
      for (const ref of cgs) found.push({ sandboxId: id, kind: "cgroup", ref });
    }
    for (const root of [ctx.paths.workspaces, ctx.paths.run]) {
      if (!existsSync(root)) continue;
      for (const name of readdirSync(root)) {
        if (SANDBOX_ID_RE.test(name)) found.push({ sandboxId: name, kind: "directory", ref: join(root, name) });
      }
    }
    return found;
  },
});

function tail(file: string): string {
  try {
    return readFileSync(file, "utf8").trim().split("\n").slice(-5).join(" | ") || "(no output)";
  } catch {
    return "(no log)";
  }
}
