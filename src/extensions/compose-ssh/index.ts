import { posix } from "node:path";
import { z } from "zod";
import { parseDuration } from "../../duration.js";
import { SandboxerError } from "../../errors.js";
import { SANDBOX_ID_RE } from "../../ids.js";
import { resolveSshTarget } from "../../transport/ssh-target.js";
import type { RunResult, Transport } from "../../transport/types.js";
import { type JsonObject, jsonObject } from "../../types.js";
import { type BackendResource, defineExtension, type ExtensionContext } from "../define.js";
import { type ComposeCommand, type ComposeSource, composeCommand, labelOverride, resolveSource, workspaceRootOf } from "./compose.js";
import { archiveDir, extractArchive } from "../../snapshots/archive.js";
import { remoteFacts } from "../../telemetry/remote-facts.js";
import { composeExec, containerCommand } from "./exec.js";
import { runWithStack } from "./pack.js";
import { enforceComposePolicy, policySettingsProblems } from "./policy-check.js";
import { enforceOnArchive } from "./policy-archive.js";
import { EXPORT_VOLUMES, LIST, LOGS, PS_MARKER, STATUS, TEARDOWN, UP } from "./scripts.js";
import { type ContainerStatus, explainStartFailure, parsePs, readiness } from "./status.js";
import { engineErrors, failedStarts } from "./up-errors.js";
import { prepareWorkspace, resolvedWorkspace, rootRefused, workspaceOf } from "./workspace.js";

const inputs = z.object({
  /** A local directory (the consumer's repo) copied to the host's workspace. */
  repo: z.string().optional(),
  /** The compose file: relative to `repo`, or a local file copied alone. */
  compose_file: z.string().optional(),
});

const composeHandle = z.object({
  /** The workspace as the host resolved it. */
  workspace: z.string(),
  files: z.array(z.string()),
  compose: z.array(z.string()),
  cli: z.string(),
  flavor: z.enum(["podman", "docker"]),
  services: z.array(z.string()),
  /** ms since epoch: our own ready deadline, a little before the broker's, so the error can carry the logs. */
  deadline: z.number(),
  /** Canary probe: a workspace and a runtime check, no stack. */
  probe: z.boolean().optional(),
});
type ComposeHandle = z.infer<typeof composeHandle>;

const OVERRIDE = ".sandboxer/compose.override.yaml";
/** The status printed by the `up` session, handed from provision to waitReady in this process. */
const firstStatus = new Map<string, ContainerStatus[]>();

function settingNumber(ctx: ExtensionContext, key: string, fallback: number): number {
  const v = ctx.profile.settings[key];
  return typeof v === "number" && v >= 0 ? v : fallback;
}

function sh(t: Transport, script: string, args: string[], opts: { input?: string; signal?: AbortSignal; timeoutMs?: number } = {}) {
  return t.run(["sh", "-c", script, "sh", ...args], opts);
}

function composeArgv(c: ComposeCommand, id: string, files: string[]): string[] {
  // podman-compose takes -p/-f before the subcommand; docker compose accepts them there too.
  return [...c.argv, "-p", id, ...files.flatMap((f) => ["-f", f])];
}

async function status(ctx: ExtensionContext, h: Pick<ComposeHandle, "cli" | "flavor">, healthchecks: string[] = []): Promise<ContainerStatus[]> {
  const res = await sh(ctx.transport, STATUS, [h.cli, ctx.sandbox.id, h.flavor, ...healthchecks], { signal: ctx.signal });
  if (res.code !== 0)
    throw new SandboxerError("SBX_PROVISION_FAILED", `${h.cli} ps on ${ctx.host.name} failed (exit ${res.code}): ${res.stderr.trim().slice(-400)}`);
  return parsePs(h.flavor, res.stdout);
}

/** Each container's state and log tail; never an empty section without saying why. */
async function logsTail(ctx: ExtensionContext, cli: string, lines = 20): Promise<string> {
  const res = await sh(ctx.transport, LOGS, [cli, ctx.sandbox.id, String(lines)], { timeoutMs: 15_000 }).catch((err: unknown) => ({
    code: -1,
    stdout: "",
    stderr: (err as Error).message,
  }));
  const text = res.stdout.trim();
  if (text)
    return text
      .split("\n")
      .slice(-lines * 3)
      .join("\n");
  if (res.code !== 0) return `(logs unavailable: ${cli} on ${ctx.host.name} exited ${res.code}: ${tailLines(res.stderr, 2) || "no message"})`;
  return `(no containers labelled sandboxer.id=${ctx.sandbox.id} on ${ctx.host.name}: compose created none)`;
}

export default defineExtension({
  id: "ext.compose-ssh",
  kind: "self-hosted",
  description: "Compose stack (docker compose / podman-compose) on a placement host over SSH, every container labelled sandboxer.id",
  capabilities: { snapshot: true, restore: true, build: false, exec: true, execService: true, files: true, processes: true, pty: true },
  // Containers and workspaces on SSH hosts, driven over each host's SSH master.
  placement: { hosts: ["ssh"], shell: true },
  inputs,
  handle: composeHandle,
  settingsProblems: policySettingsProblems,

  preflight(input, env, plan) {
    // Plan time: a bad or missing stack, or one the policy refuses, fails with exit 2 before any record,
    // file on the host or container. The canary probes without a stack; a restore's stack is the
    // snapshot's (found and checked in the archive during provision).
    if (plan.restoring || (!input.repo && !input.compose_file && plan.profile.settings.canary === true)) return;
    const src = resolveSource(input, env);
    enforceComposePolicy(src.dir, src.file, plan.profile, { single: src.single });
  },

  async provision(ctx, input) {
    const id = ctx.sandbox.id;
    if (!input.repo && !input.compose_file && ctx.profile.settings.canary === true) return probe(ctx);
    const compose = composeCommand(ctx.host, ctx.env);
    const workspace = workspaceOf(ctx, id);
    let src: ComposeSource;
    if (ctx.restoreFrom) {
      // Restore: the workspace and its stack come from the snapshot, checked in the archive before anything goes to the host.
      src = { dir: workspace, single: false, ...(await enforceOnArchive(ctx.restoreFrom, input, ctx.profile, ctx.signal)) };
    } else {
      // Checked again just before the copy: the repo may have changed since the plan.
      src = resolveSource(input, ctx.env);
      enforceComposePolicy(src.dir, src.file, ctx.profile, { single: src.single });
    }
    const timeoutMs = parseDuration(ctx.profile.timeout, "profile timeout") * 1000;
    const handle: ComposeHandle = {
      workspace,
      files: [src.file, OVERRIDE],
      compose: compose.argv,
      cli: compose.cli,
      flavor: compose.flavor,
      services: src.services,
      deadline: Date.now() + timeoutMs - Math.min(15_000, timeoutMs * 0.25),
    };
    // Checkpoint before anything exists on the host: a crash from here on leaves enough to tear down.
    await ctx.checkpoint(handle);
    const argv = [...composeArgv(compose, id, handle.files), "up", "-d"];
    let root = workspaceRootOf(ctx.host);
    const upArgs = (mode: "tar" | "-") => [root, id, OVERRIDE, compose.cli, compose.flavor, mode, labelOverride(id, src.services), ...argv];
    const starting = `starting ${src.services.length} service(s) with ${compose.argv.join(" ")}`;
    let res: RunResult;
    if (ctx.restoreFrom) {
      handle.workspace = await prepareWorkspace(ctx);
      root = posix.dirname(handle.workspace);
      await ctx.checkpoint(handle);
      ctx.progress(`restoring ${ctx.restoreFrom.id} into ${ctx.host.name}:${handle.workspace}`);
      await extractArchive(ctx.transport, handle.workspace, ctx.restoreFrom, ctx.signal);
      ctx.progress(starting);
      res = await sh(ctx.transport, UP, upArgs("-"), { signal: ctx.signal });
    } else {
      ctx.progress(`copying ${src.single ? src.file : src.dir} to ${ctx.host.name}:${workspace}, then ${starting}`);
      res = await runWithStack(ctx.transport, ["sh", "-c", UP, "sh", ...upArgs("tar")], src, ctx.signal);
    }
    const resolved = resolvedWorkspace(res.stdout);
    if (resolved) {
      handle.workspace = resolved.path;
      res = { ...res, stdout: resolved.rest };
    }
    const marker = res.stdout.lastIndexOf(PS_MARKER);
    const output = `${marker >= 0 ? res.stdout.slice(0, marker) : res.stdout}\n${res.stderr}`;
    if (res.code === 91) throw rootRefused(ctx, res.stderr);
    const explained = explainStartFailure(output);
    if (explained) throw new SandboxerError("SBX_PROVISION_FAILED", `${explained}\n${tailLines(output, 8)}`);
    if (res.code === 90)
      throw new SandboxerError("SBX_PROVISION_FAILED", `cannot place the stack in ${handle.workspace} on ${ctx.host.name}: ${tailLines(res.stderr, 4)}`);
    if (res.code !== 0) {
      const why = res.code === 127 ? `${compose.argv[0]} is not installed on ${ctx.host.name}` : `compose up exited ${res.code}`;
      throw new SandboxerError("SBX_PROVISION_FAILED", `${why}:\n${tailLines(output, 12)}`);
    }
    let containers: ContainerStatus[] | null = null;
    if (marker >= 0) {
      try {
        containers = parsePs(compose.flavor, res.stdout.slice(marker + PS_MARKER.length));
        firstStatus.set(id, containers);
      } catch {
        // unparseable: waitReady asks again
      }
    }
    // `up` said a container could not start (podman-compose still exits 0): fail now, in the engine's words.
    const stuck = failedStarts(res.stdout.slice(0, marker >= 0 ? marker : undefined)).filter(
      (f) => containers?.find((c) => c.name === f.container)?.state !== "running",
    );
    if (stuck.length) {
      firstStatus.delete(id);
      const names = stuck.map((f) => `'${containers?.find((c) => c.name === f.container)?.service ?? f.container.replace(`${id}_`, "").replace(/_\d+$/, "")}'`);
      const why = engineErrors(res.stderr).join("\n") || tailLines(res.stderr, 4) || "the engine printed no reason";
      throw new SandboxerError(
        "SBX_PROVISION_FAILED",
        `service ${names.join(", ")} could not start (\`${compose.argv.join(" ")} up\` reported exit ${stuck.map((f) => f.exitCode).join(", ")}):\n${why}`,
      );
    }
    return handle;
  },

  async waitReady(ctx, h) {
    if (h.probe) return probeReady(ctx, h);
    // Resolved while the stack comes up (a local `ssh -G`, never rejects).
    const remote = remoteDir(ctx, h.workspace);
    let checks: string[] = [];
    let last = "";
    for (let delay = 250; ; delay = Math.min(delay * 2, 2000)) {
      const early = firstStatus.get(ctx.sandbox.id);
      firstStatus.delete(ctx.sandbox.id);
      const containers = early ?? (await status(ctx, h, checks));
      const r = readiness(h.services, containers);
      if (r.kind === "ready") return { ...reachability(ctx, h, containers), ...(await remote) };
      if (r.kind === "failed") {
        throw new SandboxerError("SBX_PROVISION_FAILED", `${r.why}; logs:\n${await logsTail(ctx, h.cli)}`);
      }
      checks = h.flavor === "podman" ? r.healthchecks : [];
      if (r.why !== last) ctx.progress(`waiting: ${r.why}`);
      last = r.why;
      if (Date.now() + delay > h.deadline) {
        throw new SandboxerError("SBX_READY_TIMEOUT", `not ready within ${ctx.profile.timeout} (${r.why}); logs:\n${await logsTail(ctx, h.cli)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
      if (ctx.signal.aborted) throw ctx.signal.reason;
    }
  },

  async alive(ctx, h) {
    if (!h.cli) return false;
    if (h.probe) return (await ctx.transport.run(["test", "-d", h.workspace])).code === 0;
    return (await status(ctx, h)).some((c) => c.state === "running");
  },

  async teardown(ctx, h) {
    const id = ctx.sandbox.id;
    const compose = h ? { argv: h.compose, cli: h.cli, flavor: h.flavor } : composeCommand(ctx.host, ctx.env);
    // The handle's workspace is the one the host resolved; before that (a crash mid-provision) the configured spec.
    const workspace = h && posix.basename(h.workspace) === id ? h.workspace : workspaceOf(ctx, id);
    const stopTimeout = settingNumber(ctx, "stopTimeoutSeconds", 10);
    const res = await sh(ctx.transport, TEARDOWN, [id, workspace, compose.cli, compose.flavor, String(stopTimeout)], {
      timeoutMs: 120_000 + stopTimeout * 1000,
    });
    if (res.code !== 0)
      throw new SandboxerError("SBX_TEARDOWN_FAILED", `teardown of ${id} on ${ctx.host.name} exited ${res.code}: ${res.stderr.trim().slice(-400)}`);
  },

  async snapshot(ctx, h, dest) {
    // The workspace on the host, with the stack's named volumes exported into it, archived
    // there and streamed back over the same SSH master. Volumes are read live, not quiesced.
    const vols = await sh(ctx.transport, EXPORT_VOLUMES, [h.workspace, h.cli, ctx.sandbox.id, h.flavor], { signal: ctx.signal, timeoutMs: 600_000 });
    try {
      if (vols.code !== 0)
        throw new SandboxerError("SBX_SNAPSHOT_FAILED", `exporting the named volumes of ${ctx.sandbox.id} failed: ${vols.stderr.trim().slice(-300)}`);
      await archiveDir(ctx.transport, h.workspace, dest, ctx.signal);
    } finally {
      await ctx.transport.run(["rm", "-rf", "--", posix.join(h.workspace, ".sandboxer", "volumes")]);
    }
  },

  exec(ctx, h, argv, io, opts) {
    if (h.probe) throw new SandboxerError("SBX_UNSUPPORTED", `${ctx.sandbox.id} is a host probe (canary) with no containers to run a command in`);
    return composeExec(ctx, h, argv, io, opts);
  },

  async sandboxCommand(ctx, h, argv, opts) {
    if (h.probe) throw new SandboxerError("SBX_UNSUPPORTED", `${ctx.sandbox.id} is a host probe (canary) with no containers`);
    return containerCommand(ctx, h, argv, opts);
  },

  async list(ctx) {
    const compose = composeCommand(ctx.host, ctx.env);
    const res = await sh(ctx.transport, LIST, [compose.cli, workspaceRootOf(ctx.host)], { timeoutMs: 60_000 });
    const found: BackendResource[] = [];
    for (const line of res.stdout.split("\n")) {
      const [kind, sandboxId, ref, name] = line.split("\t");
      if (!kind || !sandboxId || !ref || !SANDBOX_ID_RE.test(sandboxId)) continue;
      found.push({ sandboxId, kind, ref, ...(name && name !== "-" ? { detail: { name } } : {}) });
    }
    return found;
  },
});

/**
 * The canary on an SSH host (profile.sandbox-canary with --host): proves SSH login,
 * a writable workspace root and a container runtime that answers, and records the
 * host's facts, without needing any image on the host.
 */
async function probe(ctx: ExtensionContext<ComposeHandle>): Promise<ComposeHandle> {
  const compose = composeCommand(ctx.host, ctx.env);
  const workspace = workspaceOf(ctx, ctx.sandbox.id);
  const handle: ComposeHandle = {
    workspace,
    files: [],
    compose: compose.argv,
    cli: compose.cli,
    flavor: compose.flavor,
    services: [],
    deadline: 0,
    probe: true,
  };
  await ctx.checkpoint(handle);
  ctx.progress(`probing ${ctx.host.name}: workspace ${workspace}`);
  handle.workspace = await prepareWorkspace(ctx);
  const res = await sh(ctx.transport, 'printf "%s\\n" "$2" > "$1/.sandboxer/canary"', [handle.workspace, ctx.sandbox.id], { signal: ctx.signal });
  if (res.code !== 0)
    throw new SandboxerError("SBX_PROVISION_FAILED", `cannot write to ${handle.workspace} on ${ctx.host.name}: ${res.stderr.trim().slice(-300)}`);
  // A canary restored onto an SSH host: its workspace holds the snapshot (no stack to start).
  if (ctx.restoreFrom) await extractArchive(ctx.transport, handle.workspace, ctx.restoreFrom, ctx.signal);
  return handle;
}

async function probeReady(ctx: ExtensionContext, h: ComposeHandle): Promise<JsonObject> {
  const facts = await remoteFacts(ctx.transport, { workspaceRoot: posix.dirname(h.workspace), cli: h.cli, compose: h.compose }, ctx.signal);
  if (facts.runtimeOk !== true) {
    throw new SandboxerError(
      "SBX_PROVISION_FAILED",
      `${h.cli} does not answer on ${ctx.host.name} (\`${h.cli} ps\` failed); runtime: ${String(facts.runtime ?? "not installed")}`,
    );
  }
  return {
    kind: "host-probe",
    host: ctx.host.name,
    address: ctx.host.ssh?.host ?? ctx.host.name,
    workspace: h.workspace,
    ...(await remoteDir(ctx, h.workspace)),
    facts,
  };
}

function reachability(ctx: ExtensionContext, h: ComposeHandle, containers: ContainerStatus[]): JsonObject {
  const address = ctx.host.ssh?.host ?? ctx.host.name;
  const services: JsonObject = {};
  const urls: string[] = [];
  const ports: JsonObject[] = [];
  for (const c of containers) {
    if (!c.service) continue;
    services[c.service] = { container: c.name, state: c.state, health: c.health };
    for (const p of c.ports) {
      // A port bound to loopback is reachable on the host itself (or through an SSH tunnel), not from here.
      const onHost = p.hostIp === "" || p.hostIp === "0.0.0.0" || p.hostIp === "::" ? address : p.hostIp;
      ports.push({ service: c.service, containerPort: p.containerPort, hostPort: p.hostPort, hostIp: p.hostIp || "0.0.0.0", protocol: p.protocol });
      if (p.protocol === "tcp") urls.push(`http://${onHost}:${p.hostPort}`);
    }
  }
  const exec = `sandboxer exec ${ctx.sandbox.id} [--service NAME] -- CMD...`;
  return { kind: "compose", host: ctx.host.name, address, project: ctx.sandbox.id, workspace: h.workspace, services, ports, urls, exec };
}

/**
 * `remote_dir` (the stack's directory on its host) and the SSH target it is
 * reached with, for consumers that run their own commands there over SSH
 * (docs/integrations/wise-validator.md). On localhost there is no SSH: null.
 */
async function remoteDir(ctx: ExtensionContext, dir: string): Promise<JsonObject> {
  const target = ctx.host.name === "localhost" ? null : await resolveSshTarget(ctx.host, ctx.env, ctx.signal);
  return { remote_dir: dir, ssh_target: target ? jsonObject(target) : null };
}

function tailLines(text: string, n: number): string {
  return text.trim().split("\n").filter(Boolean).slice(-n).join("\n");
}
