import { z } from "zod";

export const WITHIN = ["server", "sandbox", "template", "vm", "operator"] as const;

const DURATION = /^(\d+[smhd])+$/;
const duration = z.string().regex(DURATION, "a duration like 90s, 30m, 2h or 1d");

export const inputSpecSchema = z
  .strictObject({
    type: z.enum(["string", "name", "path", "int", "bool", "enum"]),
    required: z.boolean().default(false),
    default: z.union([z.string(), z.number(), z.boolean()]).optional(),
    description: z.string().optional(),
    aliases: z.array(z.string().regex(/^[a-z][a-z0-9_]*$/)).optional(),
    /**
     * A family of inputs: the spec's name is a prefix (`packer_var_`) and every
     * given input `<prefix><suffix>` is checked against it and kept under its full
     * name. No default and not required: each member is optional.
     */
    prefix: z.boolean().optional(),
    values: z.array(z.string()).optional(),
    pattern: z.string().optional(),
    maxLength: z.number().int().positive().optional(),
    min: z.number().optional(),
    max: z.number().optional(),
    /**
     * What the value may resolve to when a tenant (agt/atm) gives it (src/tenancy/confine.ts):
     * `server` a path on this machine, only under the roots granted to the tenant's project
     * (the default for paths); `sandbox` a path inside the sandbox, kept under its root by the
     * extension; `template` a name from the operator's `packerTemplates`; `vm` an inventory host
     * or a port-registry VM (the default for `vm`, `vm_name`); `operator` operators only.
     */
    within: z.enum(WITHIN).optional(),
    /** A relative value is resolved against this other (path) input when that one is given. */
    relativeTo: z
      .string()
      .regex(/^[a-z][a-z0-9_]*$/)
      .optional(),
    /** Never stored, logged or put on a command line (every `packer_var_*` is secret too). */
    secret: z.boolean().optional(),
  })
  .refine((s) => !(s.prefix && (s.default !== undefined || s.required)), {
    message: "a prefix (family) input takes neither a default nor required",
    path: ["prefix"],
  })
  .refine((s) => s.within === undefined || s.within === "operator" || (s.within === "vm" ? s.type === "name" : s.type === "path"), {
    message: "within: server, sandbox and template apply to path inputs, vm to name inputs",
    path: ["within"],
  });
export type InputSpec = z.infer<typeof inputSpecSchema>;

/** Who may use a profile besides operators (src/tenancy/access.ts); absent lists mean "any". */
export const accessSchema = z.strictObject({
  actors: z.array(z.enum(["adm", "agt", "atm"])).optional(),
  projects: z.array(z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/)).optional(),
});

/**
 * Resource limits of one sandbox (enforced by extensions with `capabilities.limits`,
 * today ext.local). Sizes are `512m`, `2g` (k/m/g/t = powers of 1024) or bytes;
 * cpu is a share of one core (`0.5`, `1`, `2`); `unlimited` turns one limit off.
 * Defaults and caps: src/catalog/limits.ts.
 */
const SIZE = /^([1-9][0-9]*)([kmgt]?)$/i;
const size = (min: string) =>
  z
    .union([z.literal("unlimited"), z.string().regex(SIZE, "a size like 512m or 2g (k/m/g/t), or unlimited")])
    .refine((v) => v === "unlimited" || sizeBytes(v) >= sizeBytes(min), `at least ${min}`);
export const limitsSchema = z.strictObject({
  processes: z
    .union([
      z.literal("unlimited"),
      z.number().int("a whole number of processes").min(8, "at least 8 (the sandbox's init and an exec need a few)").max(4_194_304),
    ])
    .optional(),
  memory: size("16m").optional(),
  disk: size("16m").optional(),
  cpu: z.union([z.literal("unlimited"), z.number().min(0.01, "at least 0.01 of a core").max(1024)]).optional(),
});
export type Limits = z.infer<typeof limitsSchema>;

/** Bytes of a size string (`2g`); NaN when it is not one. */
export function sizeBytes(v: string): number {
  const m = SIZE.exec(v);
  if (!m) return Number.NaN;
  return Number(m[1]) * 1024 ** "_kmgt".indexOf((m[2] || "_").toLowerCase());
}

export const ROUTE_STRATEGIES = ["prefer-self-hosted", "lowest-cost", "lowest-latency", "explicit"] as const;

export const profileSchema = z
  .strictObject({
    id: z.string().regex(/^profile\.[a-z0-9][a-z0-9-]*$/, "ids look like profile.<name>"),
    version: z.number().int().positive(),
    description: z.string().default(""),
    extension: z
      .string()
      .regex(/^ext\.[a-z0-9-]+$/)
      .optional(),
    route: z
      .strictObject({
        strategy: z.enum(ROUTE_STRATEGIES),
        candidates: z.array(z.string().regex(/^ext\.[a-z0-9-]+$/)).min(1),
      })
      .optional(),
    mode: z
      .string()
      .regex(/^[a-z][a-z0-9-]*$/)
      .optional(),
    placement: z
      .strictObject({
        hosts: z.array(z.string()).default(["localhost"]),
        labels: z.array(z.string()).default([]),
        fallback: z.boolean().default(true),
        /** `--host` / SANDBOXER_HOST may name any inventory host unless the profile is locked to its placement. */
        locked: z.boolean().default(false),
      })
      .default({ hosts: ["localhost"], labels: [], fallback: true, locked: false }),
    ttl: z.strictObject({ default: duration, max: duration }).default({ default: "1h", max: "24h" }),
    timeout: duration.default("2m"),
    network: z.enum(["none", "host"]).default("none"),
    hostFacts: z.boolean().default(false),
    inputs: z.record(z.string().regex(/^[a-z][a-z0-9_]*$/, "input names are lowercase [a-z0-9_]"), inputSpecSchema).default({}),
    /** Extension-specific settings that are not consumer inputs (images, GPU, compose file...). */
    settings: z.record(z.string(), z.unknown()).default({}),
    tags: z.array(z.string()).default([]),
    /** Which tenants may use the profile; absent = safe defaults (src/tenancy/access.ts). */
    access: accessSchema.optional(),
    /** Processes, memory, workspace disk and CPU share of each sandbox; defaults fill what is left out. */
    limits: limitsSchema.default({}),
    /** Files in and out (`sandboxer cp`, `/files`): the largest upload, in bytes or as `512MiB`, `2GiB`. */
    files: z
      .strictObject({
        maxUpload: z.union([z.number().int().positive(), z.string().regex(/^\d+(KiB|MiB|GiB|TiB)?$/, "a size like 1048576, 512MiB or 2GiB")]).optional(),
      })
      .optional(),
    /** A warm pool of ready members (docs/pools.md); `sandboxer pools set` overrides it at run time. */
    pool: z.strictObject({ size: z.number().int().min(0).max(1000), maxIdle: duration.default("30m") }).optional(),
  })
  .refine((p) => Boolean(p.extension) !== Boolean(p.route), {
    message: "a profile names exactly one of 'extension' or 'route'",
    path: ["extension"],
  });
export type Profile = z.infer<typeof profileSchema> & { file: string };

export const registrationSchema = z.strictObject({
  id: z.string().regex(/^ext\.[a-z0-9-]+$/),
  /**
   * The extension's code when it is not built in: a path (relative to this file)
   * or a package name whose default export is `defineExtension({...})`.
   */
  module: z.string().min(1).max(4096).optional(),
  enabled: z.boolean().default(true),
  description: z.string().default(""),
  pricePerHour: z.number().nonnegative().default(0),
  currency: z.string().default("credits"),
  expectedReadySeconds: z.number().nonnegative().default(1),
  limits: z
    .strictObject({
      maxSandboxes: z.number().int().positive().optional(),
      maxTtl: duration.optional(),
      /** Caps on profiles' `limits` for this extension: a profile asking more does not load. */
      ...limitsSchema.shape,
    })
    .default({}),
});
export type Registration = z.infer<typeof registrationSchema> & { file: string };

export interface Diagnostic {
  file: string;
  field: string;
  message: string;
}
