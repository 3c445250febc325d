import { SandboxerError } from "../errors.js";
import type { Extension } from "./define.js";

/**
 * Extensions in code, loaded lazily so a command pays only for the backend it uses
 * (vendor SDKs are heavy). Registrations (price, limits, enabled) live in extensions/*.yaml.
 */
const LOADERS: Record<string, () => Promise<{ default: Extension }>> = {
  "ext.local": () => import("./local/index.js") as Promise<{ default: Extension }>,
  "ext.compose-ssh": () => import("./compose-ssh/index.js") as Promise<{ default: Extension }>,
  "ext.vm-packer": () => import("./vm-packer/index.js") as Promise<{ default: Extension }>,
  "ext.saas-stub": () => import("./saas-stub/index.js") as Promise<{ default: Extension }>,
  "ext.e2b": () => import("./e2b/index.js") as Promise<{ default: Extension }>,
  "ext.daytona": () => import("./daytona/index.js") as Promise<{ default: Extension }>,
  "ext.modal": () => import("./modal/index.js") as Promise<{ default: Extension }>,
  "ext.kubernetes": () => import("./kubernetes/index.js") as Promise<{ default: Extension }>,
};

export const KNOWN_EXTENSIONS: readonly string[] = Object.keys(LOADERS);

const cache = new Map<string, Extension>();

export async function loadExtension(id: string): Promise<Extension> {
  const hit = cache.get(id);
  if (hit) return hit;
  const loader = LOADERS[id];
  if (!loader) {
    throw new SandboxerError("SBX_EXTENSION_NOT_FOUND", `extension '${id}' is not known (known: ${KNOWN_EXTENSIONS.join(", ")})`, {
      details: { field: "extension" },
    });
  }
  const ext = (await loader()).default;
  cache.set(id, ext);
  return ext;
}
