import { existsSync, readFileSync, realpathSync, statSync } from "node:fs";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { DEFAULT_HOST_WORKSPACE_ROOT, type Env, expandHome } from "../../config.js";
import { SandboxerError } from "../../errors.js";
import type { Host } from "../../types.js";
import { SERVICE_NAME_RE } from "../define.js";

/** Where workspaces go on a host that names no `workspaceRoot` (the inventory's default). */
export const DEFAULT_WORKSPACE_ROOT = DEFAULT_HOST_WORKSPACE_ROOT;
export const DEFAULT_COMPOSE = "docker compose";
export const LABEL = "sandboxer.id";
export const COMPOSE_NAMES = ["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"];
const WORD_RE = /^[A-Za-z0-9_./-]+$/;

export type Flavor = "podman" | "docker";

export interface ComposeCommand {
  argv: string[];
  flavor: Flavor;
  /** The container CLI that lists and removes what compose made (`podman` / `docker`). */
  cli: string;
}

export function workspaceRootOf(host: Host): string {
  return host.workspaceRoot ?? DEFAULT_WORKSPACE_ROOT;
}

/**
 * `SANDBOXER_COMPOSE_CMD` wins (the operator's explicit choice for this run),
 * then the host's `compose`, then `docker compose`. podman-compose differs:
 * no `--wait`, no `ps --format json`, so status comes from `podman ps`.
 */
export function composeCommand(host: Host, env: Env): ComposeCommand {
  const text = (env.SANDBOXER_COMPOSE_CMD || host.compose || DEFAULT_COMPOSE).trim();
  const argv = text.split(/\s+/);
  for (const w of argv) {
    if (!WORD_RE.test(w)) {
      throw new SandboxerError(
        "SBX_CONFIG_INVALID",
        `compose command '${text.slice(0, 80)}': '${w.slice(0, 40)}' is not a plain word (SANDBOXER_COMPOSE_CMD or hosts.${host.name}.compose)`,
        { details: { field: "compose" } },
      );
    }
  }
  const first = basename(argv[0] ?? "");
  const podman = first === "podman-compose" || (first === "podman" && argv[1] === "compose");
  return { argv, flavor: podman ? "podman" : "docker", cli: podman ? "podman" : first === "docker-compose" ? "docker" : (argv[0] ?? "docker") };
}

export interface ComposeSource {
  /** Local directory copied to the workspace. */
  dir: string;
  /** The compose file, relative to `dir`. */
  file: string;
  /** Only this file is copied (no repo given). */
  single: boolean;
  /** Services compose starts by default (no `profiles:`), for readiness. */
  services: string[];
}

function inputError(field: string, message: string): SandboxerError {
  return new SandboxerError("SBX_INPUT_INVALID", `input '${field}': ${message}`, { details: { field } });
}

/**
 * Resolve and check the repo / compose file on this machine before anything
 * is made on the host: exists, stays inside the repo (symlinks included),
 * parses as YAML with a `services` map.
 */
export function resolveSource(input: { repo?: string | undefined; compose_file?: string | undefined }, env: Env): ComposeSource {
  let dir: string;
  let file: string;
  let single = false;
  if (input.repo) {
    const repo = resolve(expandHome(input.repo, env));
    if (!existsSync(repo) || !statSync(repo).isDirectory()) throw inputError("repo", `${input.repo} is not a directory on this machine`);
    dir = realpathSync(repo);
    if (input.compose_file) {
      if (isAbsolute(input.compose_file)) throw inputError("compose_file", "must be relative to the repo when 'repo' is given");
      file = input.compose_file;
    } else {
      const found = COMPOSE_NAMES.find((n) => existsSync(join(dir, n)));
      if (!found) throw inputError("repo", `${input.repo} has no compose file (${COMPOSE_NAMES.join(", ")}); name one with compose_file`);
      file = found;
    }
    const full = join(dir, file);
    if (!existsSync(full)) throw inputError("compose_file", `${file} does not exist in ${input.repo}`);
    const real = realpathSync(full);
    const rel = relative(dir, real);
    if (rel.startsWith("..") || isAbsolute(rel)) throw inputError("compose_file", `${file} resolves outside the repo`);
  } else if (input.compose_file) {
    const given = resolve(expandHome(input.compose_file, env));
    if (!existsSync(given) || !statSync(given).isFile()) throw inputError("compose_file", `${input.compose_file} is not a file on this machine`);
    // The file itself, not a link to it: tar would copy the link, and on the host it would name a host file.
    const full = realpathSync(given);
    dir = dirname(full);
    file = basename(full);
    single = true;
  } else {
    throw new SandboxerError("SBX_INPUT_MISSING", "input 'repo' or 'compose_file' is required: the compose stack to start", { details: { field: "repo" } });
  }
  return { dir, file, single, services: servicesOf(join(dir, file)) };
}

function servicesOf(path: string): string[] {
  return servicesIn(readFileSync(path, "utf8"), basename(path));
}

/** The services compose starts by default, from a compose file's text (`name` for messages). */
export function servicesIn(text: string, name: string): string[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw inputError("compose_file", `${name} is not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  const services = (doc as { services?: unknown } | null)?.services;
  if (!services || typeof services !== "object" || Array.isArray(services) || !Object.keys(services).length) {
    throw inputError("compose_file", `${name} has no 'services' map`);
  }
  const names: string[] = [];
  for (const [name, svc] of Object.entries(services as Record<string, unknown>)) {
    if (!SERVICE_NAME_RE.test(name)) throw inputError("compose_file", `service name '${name.slice(0, 40)}' is not a plain name`);
    if (svc && typeof svc === "object" && "profiles" in svc) continue;
    names.push(name);
  }
  return names;
}

/** An override file that labels every service with the sandbox id, so stale detection can find them. */
export function labelOverride(id: string, services: string[]): string {
  const doc = { services: Object.fromEntries(services.map((s) => [s, { labels: { [LABEL]: id } }])) };
  return toYaml(doc);
}
