import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { SandboxerError } from "./errors.js";
import { type Host, LOCALHOST } from "./types.js";

export type Env = Record<string, string | undefined>;

/** XDG-style locations, each overridable by its SANDBOXER_* variable. */
export interface Paths {
  home: string;
  db: string;
  workspaces: string;
  snapshots: string;
  run: string;
  configFile: string;
  builtinProfiles: string;
  builtinExtensions: string;
  extraProfiles: string | undefined;
}

/** Package root: dist/ and src/ both sit one level below it. */
export const PACKAGE_ROOT = resolve(fileURLToPath(new URL(".", import.meta.url)), "..");

export function expandHome(p: string, env: Env = process.env): string {
  const home = env.HOME ?? homedir();
  return p === "~" ? home : p.startsWith("~/") ? join(home, p.slice(2)) : p;
}

export function resolvePaths(env: Env = process.env): Paths {
  const userHome = env.HOME ?? homedir();
  const dataHome = env.XDG_DATA_HOME || join(userHome, ".local", "share");
  const configHome = env.XDG_CONFIG_HOME || join(userHome, ".config");
  const home = resolve(expandHome(env.SANDBOXER_HOME || join(dataHome, "sandboxer"), env));
  return {
    home,
    db: join(home, "sandboxer.db"),
    workspaces: join(home, "workspaces"),
    snapshots: join(home, "snapshots"),
    run: join(home, "run"),
    configFile: resolve(expandHome(env.SANDBOXER_CONFIG || join(configHome, "sandboxer", "config.yaml"), env)),
    builtinProfiles: join(PACKAGE_ROOT, "profiles"),
    builtinExtensions: join(PACKAGE_ROOT, "extensions"),
    extraProfiles: env.SANDBOXER_PROFILES_DIR ? resolve(expandHome(env.SANDBOXER_PROFILES_DIR, env)) : undefined,
  };
}

const NAME = /^[a-z0-9][a-z0-9_.-]*$/;

const sshSchema = z.strictObject({
  host: z.string().min(1).max(253).regex(/^[A-Za-z0-9_.:-]+$/, "host name or address"),
  user: z.string().regex(/^[a-z_][a-z0-9_-]*$/).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  identityFile: z.string().min(1).optional(),
});

const hostSchema = z.strictObject({
  ssh: sshSchema.optional(),
  compose: z.string().regex(/^[a-z][a-z0-9 -]*$/, "a compose command such as 'docker compose' or 'podman-compose'").optional(),
  workspaceRoot: z.string().regex(/^\/[A-Za-z0-9_./-]*$/, "an absolute path").optional(),
  labels: z.array(z.string().regex(NAME)).default([]),
  maxSandboxes: z.number().int().positive().optional(),
});

const configSchema = z.strictObject({
  hosts: z.record(z.string().regex(NAME, "host names are lowercase [a-z0-9_.-]"), hostSchema).default({}),
  stateHubUrl: z.url().optional(),
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
      ssh: h.ssh ? { ...h.ssh, identityFile: h.ssh.identityFile ? expandHome(h.ssh.identityFile, env) : undefined } : undefined,
      compose: h.compose,
      workspaceRoot: h.workspaceRoot,
      labels: h.labels,
      maxSandboxes: h.maxSandboxes,
    });
  }
  return {
    hosts,
    stateHubUrl: env.SANDBOXER_STATE_HUB_URL || parsed.data.stateHubUrl,
    defaults: parsed.data.defaults,
    file: paths.configFile,
  };
}
