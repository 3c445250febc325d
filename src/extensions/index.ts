import { SandboxerError } from "../errors.js";
import { bindExtension } from "./bind.js";
import type { Extension } from "./define.js";
import { importModule, resolveModule } from "./modules.js";

/**
 * Extensions in code, loaded lazily so a command pays only for the backend it uses
 * (vendor SDKs are heavy). Registrations (price, limits, enabled) live in extensions/*.yaml;
 * a registration may instead name a `module:` (src/extensions/modules.ts).
 */
const BUILTIN: Record<string, () => Promise<{ default: unknown }>> = {
  "ext.local": () => import("./local/index.js"),
  "ext.compose-ssh": () => import("./compose-ssh/index.js"),
  "ext.vm-packer": () => import("./vm-packer/index.js"),
  "ext.saas-stub": () => import("./saas-stub/index.js"),
  "ext.e2b": () => import("./e2b/index.js"),
  "ext.daytona": () => import("./daytona/index.js"),
  "ext.modal": () => import("./modal/index.js"),
  "ext.kubernetes": () => import("./kubernetes/index.js"),
};

/** The extensions built into this package. Others come from registrations with `module:`. */
export const BUILTIN_EXTENSIONS: readonly string[] = Object.keys(BUILTIN);

/** Where a registration says its extension's code is. */
export interface ModuleRef {
  module?: string | undefined;
  /** The registration file (`module:` paths are relative to it). */
  file: string;
}

const builtins = new Map<string, Extension>();
/** Module extensions by resolved file: two registrations of one module share one load. */
const modules = new Map<string, Promise<Extension>>();

/** Load, check and bind an operator's module extension (SBX_EXTENSION_INVALID when it does not fit). */
async function loadModule(id: string, spec: string, registrationFile: string): Promise<Extension> {
  const file = resolveModule(id, spec, registrationFile);
  const key = `${id}\0${file}`;
  let hit = modules.get(key);
  if (!hit) {
    hit = importModule(id, spec, file).then((raw) => {
      const ext = bindExtension(raw, `module '${spec}'`);
      if (ext.id !== id) {
        throw new SandboxerError("SBX_EXTENSION_INVALID", `extension ${id}: module '${spec}' defines '${ext.id}', not '${id}'`, {
          details: { extension: id, field: "module" },
        });
      }
      return ext;
    });
    modules.set(key, hit);
    hit.catch(() => modules.delete(key));
  }
  return hit;
}

/**
 * The extension `id`: built in, or the module its registration names (pass the
 * registration; src/broker/runtime.ts `extensionOf` looks it up in the catalog).
 */
export async function loadExtension(id: string, registration?: ModuleRef): Promise<Extension> {
  if (registration?.module) {
    if (BUILTIN[id])
      throw new SandboxerError("SBX_EXTENSION_INVALID", `extension ${id}: built in; a registration may not replace it with module '${registration.module}'`, {
        details: { extension: id, field: "module" },
      });
    return loadModule(id, registration.module, registration.file);
  }
  const hit = builtins.get(id);
  if (hit) return hit;
  const loader = BUILTIN[id];
  if (!loader) {
    throw new SandboxerError(
      "SBX_EXTENSION_NOT_FOUND",
      `extension '${id}' is not known (built in: ${BUILTIN_EXTENSIONS.join(", ")}; others need a registration with module:)`,
      {
        details: { field: "extension" },
      },
    );
  }
  const ext = bindExtension((await loader()).default);
  builtins.set(id, ext);
  return ext;
}
