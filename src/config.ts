import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { SandboxerError } from "./errors.js";
import { type Host, LOCALHOST } from "./types.js";

export { type Env, expandHome, PACKAGE_ROOT, type Paths, resolvePaths } from "./paths.js";
import { type Env, expandHome, type Paths } from "./paths.js";

const NAME = /^[a-z0-9][a-z0-9_.-]*$/;

/**
 * Where workspaces go on an SSH host that names no `workspaceRoot`: in the SSH user's
 * own home (`~/` is resolved by the host's shell), never under a world-writable
 * directory where another user could make the root first. Created with mode 0700.
 */
export const DEFAULT_HOST_WORKSPACE_ROOT = "~/.local/share/sandboxer/stacks";

const sshSchema = z.strictObject({
  host: z
    .string()
    .min(1)
    .max(253)
    .regex(/^[A-Za-z0-9_.:-]+$/, "host name or address"),
  user: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]*$/)
    .optional(),
  port: z.number().int().min(1).max(65535).optional(),
  identityFile: z.string().min(1).optional(),
  certificate: z.string().min(1).optional(),
});

/** A Kubernetes namespace or kubeconfig context name (RFC 1123 label / kubeconfig names). */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const clusterSchema = z.strictObject({
  context: z
    .string()
    .min(1)
    .max(253)
    .regex(/^[A-Za-z0-9_.:@/-]+$/, "a kubeconfig context name")
    .optional(),
  namespace: z.string().regex(DNS_LABEL, "a Kubernetes namespace (lowercase RFC 1123 label)").optional(),
  namespaces: z
    .record(z.string().regex(NAME, "project names are lowercase [a-z0-9_.-]"), z.string().regex(DNS_LABEL, "a Kubernetes namespace (lowercase RFC 1123 label)"))
    .optional(),
});

/** Hosts with a `cluster` entry carry this label, so profiles place on "any cluster" by label. */
export const CLUSTER_LABEL = "kubernetes";

const hostSchema = z
  .strictObject({
    ssh: sshSchema.optional(),
    cluster: clusterSchema.optional(),
    compose: z
      .string()
      .regex(/^[a-z][a-z0-9 -]*$/, "a compose command such as 'docker compose' or 'podman-compose'")
      .optional(),
    workspaceRoot: z
      .string()
      .regex(/^\/[A-Za-z0-9_./-]*$/, "an absolute path")
      .optional(),
    labels: z.array(z.string().regex(NAME)).default([]),
    maxSandboxes: z.number().int().positive().optional(),
  })
  .refine((h) => !(h.ssh && h.cluster), { message: "a host is either an SSH host or a cluster, not both", path: ["cluster"] });

const absPath = z
  .string()
  .min(1)
  .max(4096)
  .regex(/^(\/|~\/)/, "an absolute path (or ~/...)");

/** 0 = no limit. */
const cap = z.number().int().min(0).max(1_000_000);
const perTokenProject = (token: number, project: number) => z.strictObject({ perToken: cap.default(token), perProject: cap.default(project) }).prefault({});

/**
 * How many long-lived sessions one token and one project may hold open at once on
 * one `serve` replica (src/api/session-caps.ts); running background processes also per
 * sandbox, for every caller (src/broker/process-room.ts). Refusals are SBX_SESSION_LIMIT.
 */
const sessionLimitsSchema = z
  .strictObject({
    terminals: perTokenProject(8, 32),
    execs: perTokenProject(16, 64),
    processes: z.strictObject({ perToken: cap.default(16), perProject: cap.default(64), perSandbox: cap.default(16) }).prefault({}),
    mcp: perTokenProject(16, 64),
    eventStreams: perTokenProject(8, 32),
  })
  .prefault({});

export type SessionLimits = z.output<typeof sessionLimitsSchema>;
export const DEFAULT_SESSION_LIMITS: SessionLimits = sessionLimitsSchema.parse(undefined);

const configSchema = z.strictObject({
  hosts: z.record(z.string().regex(NAME, "host names are lowercase [a-z0-9_.-]"), hostSchema).default({}),
  /** Per project: the server directories its tenants may name in path inputs (src/tenancy/confine.ts). */
  projects: z.record(z.string().regex(NAME, "project names are lowercase [a-z0-9_.-]"), z.strictObject({ roots: z.array(absPath).default([]) })).default({}),
  /** Packer templates by name: tenants name one of these, never a path. */
  packerTemplates: z.record(z.string().regex(NAME, "template names are lowercase [a-z0-9_.-]"), absPath).default({}),
  stateHubUrl: z.url().optional(),
  sessionLimits: sessionLimitsSchema,
  defaults: z
    .strictObject({
      profile: z.string().optional(),
      actor: z.enum(["adm", "agt", "atm"]).optional(),
      project: z.string().regex(NAME).optional(),
    })
    .default({}),
});

export interface Config {
  hosts: Map<string, Host>;
  stateHubUrl: string | undefined;
  defaults: { profile?: string | undefined; actor?: "adm" | "agt" | "atm" | undefined; project?: string | undefined };
  /** Granted roots per project, absolute (`~` expanded for the operator's own config). */
  projects: Map<string, { roots: string[] }>;
  packerTemplates: Map<string, string>;
  /** Concurrent terminals, exec streams, background processes and MCP exchanges per token, project, sandbox. */
  sessionLimits: SessionLimits;
  file: string;
}

/** Load the config file (absent = defaults). Every problem is reported at once with its field. */
export function loadConfig(paths: Paths, env: Env = process.env): Config {
  let raw: unknown = {};
  if (existsSync(paths.configFile)) {
    try {
      raw = parseYaml(readFileSync(paths.configFile, "utf8")) ?? {};
    } catch (err) {
      throw new SandboxerError("SBX_CONFIG_INVALID", `${paths.configFile}: ${(err as Error).message}`, { cause: err });
    }
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${paths.configFile}: ${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new SandboxerError("SBX_CONFIG_INVALID", lines.join("\n"), { details: { file: paths.configFile } });
  }
  const hosts = new Map<string, Host>([["localhost", LOCALHOST]]);
  for (const [name, h] of Object.entries(parsed.data.hosts)) {
    hosts.set(name, {
      name,
      ssh: h.ssh
        ? {
            ...h.ssh,
            identityFile: h.ssh.identityFile ? expandHome(h.ssh.identityFile, env) : undefined,
            certificate: h.ssh.certificate ? expandHome(h.ssh.certificate, env) : undefined,
          }
        : undefined,
      compose: h.compose,
      workspaceRoot: h.workspaceRoot,
      labels: h.cluster && !h.labels.includes(CLUSTER_LABEL) ? [...h.labels, CLUSTER_LABEL] : h.labels,
      ...(h.cluster ? { cluster: h.cluster } : {}),
      maxSandboxes: h.maxSandboxes,
    });
  }
  return {
    hosts,
    stateHubUrl: env.SANDBOXER_STATE_HUB_URL || parsed.data.stateHubUrl,
    defaults: parsed.data.defaults,
    projects: new Map(Object.entries(parsed.data.projects).map(([name, p]) => [name, { roots: p.roots.map((r) => resolve(expandHome(r, env))) }])),
    packerTemplates: new Map(Object.entries(parsed.data.packerTemplates).map(([name, t]) => [name, resolve(expandHome(t, env))])),
    sessionLimits: parsed.data.sessionLimits,
    file: paths.configFile,
  };
}
