import { confine, type StackFs } from "./confine.js";
import { DIALECTS, hostVarsIn, showValue } from "./interpolate.js";
import { type Bind, nestedBinds, service as serviceRules } from "./policy-service.js";
import { type LoadedStack, loadStack, type ParseCache, type Resource } from "./stack.js";
import type { RuleId, Violation } from "./violations.js";

/**
 * The compose policy: a pure function from a stack (its files, read through an
 * injected StackFs) to every violation, as both engines would run it. It
 * decides; the caller (policy-check.ts) throws and the extension refuses.
 */
export interface PolicyInput {
  /** The stack's own directory (a real path): what is copied to the host. */
  root: string;
  /** The main compose file, relative to root. */
  file: string;
  fs: StackFs;
  /** Rules the profile relaxes (`settings.composePolicy.allow`). */
  allow?: readonly RuleId[];
}

export function checkStack(input: PolicyInput): Violation[] {
  const cache: ParseCache = new Map();
  const fs = memo(input.fs);
  const seen = new Set<string>();
  const out: Violation[] = [];
  const allowed = new Set(input.allow ?? []);
  for (const dialect of DIALECTS) {
    const stack = loadStack(input.root, input.file, fs, dialect, cache);
    for (const v of [...stack.problems, ...partViolations(stack, fs), ...resourceViolations(stack, fs)]) {
      const id = `${v.service ?? ""}\n${v.via ?? ""}\n${v.rule}\n${v.key}\n${v.message}`;
      if (allowed.has(v.rule) || seen.has(id)) continue;
      seen.add(id);
      out.push(v);
    }
  }
  return out;
}

/** One answer per path for the whole check: both dialects walk the same paths. */
function memo(fs: StackFs): StackFs {
  const reads = new Map<string, string | undefined>();
  const links = new Map<string, string | undefined>();
  const get = <T>(m: Map<string, T>, k: string, f: (k: string) => T): T => {
    if (m.has(k)) return m.get(k) as T;
    const v = f(k);
    m.set(k, v);
    return v;
  };
  return { read: (p) => get(reads, p, (k) => fs.read(k)), readlink: (p) => get(links, p, (k) => fs.readlink(k)) };
}

/** `compose policy: service 'web': privileged: true is not allowed; ... (profile.x allows: none)` */
export function formatViolations(violations: readonly Violation[], profileId: string, allow: readonly string[]): string {
  const lines = violations.map((v) => {
    const hint = v.key === v.rule || v.key.startsWith(`${v.rule}.`) ? "" : ` [rule ${v.rule}]`;
    const where = v.service ? `service '${v.service}'${v.via ? ` (${v.via})` : ""}: ` : "";
    return `${where}${v.key}: ${v.message}${hint}`;
  });
  return `compose policy: ${lines.join("; ")} (${profileId} allows: ${allow.length ? allow.join(", ") : "none"})`;
}

function partViolations(stack: LoadedStack, fs: StackFs): Violation[] {
  const out: Violation[] = [];
  const volumes = new Set(stack.resources.filter((r) => r.kind === "volumes").map((r) => r.name));
  const networks = new Set(stack.resources.filter((r) => r.kind === "networks").map((r) => r.name));
  const binds: Bind[] = [];
  for (const part of stack.parts) {
    const found = serviceRules(part, { root: stack.root, services: stack.services, volumes, networks, fs, binds });
    for (const v of found) out.push({ ...v, service: part.service, ...(part.via ? { via: part.via } : {}) });
  }
  out.push(...nestedBinds(binds));
  return out;
}

const isMap = (v: unknown): v is Record<string, unknown> => Boolean(v) && typeof v === "object" && !Array.isArray(v);
const truthy = (v: unknown) => !(v === undefined || v === null || v === false || v === 0 || (typeof v === "string" && /^(false|no|off|n|0|)$/i.test(v)));

function resourceViolations(stack: LoadedStack, fs: StackFs): Violation[] {
  const out: Violation[] = [];
  const add = (rule: RuleId, r: Resource, message: string) => out.push({ rule, key: r.kind, message: `'${r.name}' ${message}` });
  for (const r of stack.resources) {
    if (!isMap(r.def)) continue;
    const d = r.def;
    if (truthy(d.external)) add("external", r, `is external: it names a ${r.kind.slice(0, -1)} outside the stack`);
    if ((r.kind === "volumes" || r.kind === "networks") && d.name !== undefined) {
      add("external", r, `sets name '${showValue(String(d.name))}': it could name another stack's ${r.kind.slice(0, -1)}`);
    }
    if (r.kind === "volumes") {
      if (d.driver !== undefined && d.driver !== "local") add("bind_mounts", r, `uses volume driver '${showValue(String(d.driver))}'`);
      if (d.driver_opts !== undefined && !tmpfsOnly(d.driver_opts))
        add("bind_mounts", r, "has driver_opts that bind a host path or device (only type: tmpfs is allowed)");
    }
    if (r.kind === "networks") {
      if (d.driver !== undefined && d.driver !== "bridge") add("networks", r, `uses network driver '${showValue(String(d.driver))}' (only bridge)`);
      if (d.driver_opts !== undefined) add("networks", r, "has driver_opts");
    }
    if (r.kind === "secrets" || r.kind === "configs") {
      if (d.environment !== undefined) add(r.kind, r, `reads '${showValue(String(d.environment))}' from the engine's environment on the host`);
      if (typeof d.file === "string") {
        const where = hostVarsIn(d.file).length ? null : confine(stack.root, r.base, d.file, fs);
        if (!where) add(r.kind, r, `file '${showValue(d.file)}' depends on the host's environment`);
        else if (!where.inside) add(r.kind, r, `file '${d.file}' ${where.why}`);
      }
    }
  }
  return out;
}

function tmpfsOnly(opts: unknown): boolean {
  if (!isMap(opts)) return false;
  const keys = Object.keys(opts);
  if (keys.some((k) => !["type", "device", "o"].includes(k))) return false;
  const o = String(opts.o ?? "");
  return opts.type === "tmpfs" && (opts.device === undefined || opts.device === "tmpfs") && !/\bbind\b/.test(o);
}
