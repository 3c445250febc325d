import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/* Kept free of yaml/zod so read-only commands (list, get, events) start fast. */

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
  /** Operators' registrations (`SANDBOXER_EXTENSIONS_DIR`): extensions from `module:`, or overrides of built-in ones. */
  extraExtensions?: string | undefined;
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
    extraExtensions: env.SANDBOXER_EXTENSIONS_DIR ? resolve(expandHome(env.SANDBOXER_EXTENSIONS_DIR, env)) : undefined,
  };
}
