import { posix } from "node:path";
import { confine, looksLikePath, type StackFs } from "./confine.js";
import { hostVarsIn, showValue } from "./interpolate.js";
import type { ServicePart } from "./stack.js";
import type { RuleId, Violation } from "./violations.js";

/** What a service's keys are checked against: the rest of the stack. */
export interface StackView {
  root: string;
  services: ReadonlySet<string>;
  volumes: ReadonlySet<string>;
  networks: ReadonlySet<string>;
  fs: StackFs;
  /** Every bind inside the stack, collected for the nesting rule (nestedBinds). */
  binds: Bind[];
}

/** A bind mount whose source stays in the stack: where it lands and whether the container may write it. */
export interface Bind {
  service: string;
  source: string;
  path: string;
  writable: boolean;
}

type Found = Omit<Violation, "service" | "via">;

const isMap = (v: unknown): v is Record<string, unknown> => Boolean(v) && typeof v === "object" && !Array.isArray(v);
/** Anything but a clear "no" counts as yes: YAML 1.1, strings and host values all read as the engine might. */
const truthy = (v: unknown) => !(v === undefined || v === null || v === false || v === 0 || (typeof v === "string" && /^(false|no|off|n|0|)$/i.test(v)));
const nonEmpty = (v: unknown) =>
  v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0) && !(isMap(v) && Object.keys(v).length === 0) && v !== "";
const list = (v: unknown): unknown[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]);
const show = (v: unknown): string => (typeof v === "string" ? showValue(v) : Array.isArray(v) ? `[${v.map((x) => show(x)).join(", ")}]` : JSON.stringify(v));

/** A namespace key's allowed values; `service:NAME` is allowed when NAME is in the stack. */
const NAMESPACES: { key: string; rule: RuleId; ok: RegExp }[] = [
  { key: "network_mode", rule: "network_mode", ok: /^(none|bridge|default|private|slirp4netns|pasta)$/ },
  { key: "pid", rule: "pid", ok: /^(private)?$/ },
  { key: "ipc", rule: "ipc", ok: /^(private|shareable|none)?$/ },
  { key: "uts", rule: "uts", ok: /^(private)?$/ },
  { key: "userns_mode", rule: "userns_mode", ok: /^(auto(:.*)?|keep-id(:.*)?|nomap|private)?$/ },
  { key: "cgroup", rule: "cgroup", ok: /^(private)?$/ },
  { key: "cgroupns_mode", rule: "cgroup", ok: /^(private)?$/ },
];
const SHARES_SERVICE = new Set(["network_mode", "pid", "ipc"]);
const SECURITY_OPT_OK = /^no-new-privileges([:=]true)?$/i;
const LOG_DRIVERS = new Set(["json-file", "local", "k8s-file", "journald", "none"]);
/** Annotation namespaces the runtimes act on (confinement, seccomp, hooks). */
const RESERVED_ANNOTATION = /^(io\.podman\.|io\.containers\.|run\.oci\.|org\.opencontainers\.|com\.docker\.|io\.kubernetes\.)/;
const REMOTE_CONTEXT = /^([a-z][a-z0-9+.-]*:\/\/|git@|github\.com\/)/i;

/** Every rule one part of one service breaks. */
export function service(part: ServicePart, v: StackView): Found[] {
  const s = part.spec;
  const out: Found[] = [];
  const add = (rule: RuleId, key: string, message: string) => out.push({ rule, key, message });
  /** A path the engine reads or mounts on the host must stay in the stack. */
  const path = (rule: RuleId, key: string, what: string, p: unknown, base = part.base): string | null => {
    if (typeof p !== "string") return null;
    const host = hostVarsIn(p);
    if (host.length) {
      add(rule, key, `${what} '${showValue(p)}' depends on the host's environment (\${${host[0]}})`);
      return null;
    }
    const where = confine(v.root, base, p, v.fs);
    if (!where.inside) {
      add(rule, key, `${what} '${p}' ${where.why}`);
      return null;
    }
    return where.path;
  };

  if (s.privileged !== undefined && truthy(s.privileged)) add("privileged", "privileged", `${show(s.privileged)} is not allowed`);
  for (const hook of ["post_start", "pre_stop"]) {
    if (list(s[hook]).some((h) => isMap(h) && truthy(h.privileged))) add("privileged", hook, "a privileged hook is not allowed");
  }
  if (nonEmpty(s.cap_add)) add("cap_add", "cap_add", `${show(s.cap_add)} is not allowed`);
  for (const key of ["devices", "device_cgroup_rules", "gpus"]) if (nonEmpty(s[key])) add("devices", key, `${show(s[key])} is not allowed`);
  const reservations = isMap(s.deploy) && isMap(s.deploy.resources) && isMap(s.deploy.resources.reservations) ? s.deploy.resources.reservations : {};
  if (nonEmpty(reservations.devices)) add("devices", "deploy.resources.reservations.devices", "device reservations are not allowed");
  if (nonEmpty(s.cgroup_parent)) add("cgroup_parent", "cgroup_parent", `${show(s.cgroup_parent)} is not allowed`);
  if (truthy(s.use_api_socket)) add("use_api_socket", "use_api_socket", "the engine's API socket is not allowed in a container");
  if (s.provider !== undefined) add("provider", "provider", "provider services run a plugin on the host and are not allowed");
  if (s["init-path"] !== undefined) add("bind_mounts", "init-path", `${show(s["init-path"])} mounts a host file`);
  // podman takes a path to any OCI runtime binary: only the names the host configured.
  if (s.runtime !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(String(s.runtime))) add("runtime", "runtime", `${show(s.runtime)} is not a runtime name`);
  for (const key of Object.keys(s)) {
    if (key.startsWith("x-podman")) add("x-podman", key, "podman-compose extensions (rootfs, uid maps, extra podman arguments) are not allowed");
  }

  for (const ns of NAMESPACES) {
    const val = s[ns.key];
    if (val === undefined || val === null) continue;
    const text = String(val);
    const target = /^service:(.+)$/.exec(text)?.[1];
    if (ns.ok.test(text) && !hostVarsIn(text).length) continue;
    if (target !== undefined && SHARES_SERVICE.has(ns.key) && v.services.has(target)) continue;
    const why = text === "host" ? "is not allowed" : /^(container|service|ns):/.test(text) ? "points outside the stack" : "is not allowed";
    add(ns.rule, ns.key, `${show(val)} ${why}`);
  }
  const bad = list(s.security_opt).filter((o) => typeof o !== "string" || !SECURITY_OPT_OK.test(o.trim()));
  if (bad.length)
    add("security_opt", "security_opt", `${bad.map((o) => `'${show(o)}'`).join(", ")} ${bad.length > 1 ? "are" : "is"} not allowed (only no-new-privileges)`);

  volumes(part, v, add, path);
  for (const entry of list(s.volumes_from)) {
    const text = String(entry);
    const name = text.replace(/:(ro|rw)$/, "");
    if (name.startsWith("container:")) add("volumes_from", "volumes_from", `'${show(text)}' points outside the stack`);
    else if (!v.services.has(name)) add("volumes_from", "volumes_from", `'${show(text)}' is not a service of the stack`);
  }
  const nets = Array.isArray(s.networks) ? s.networks : isMap(s.networks) ? Object.keys(s.networks) : [];
  for (const n of nets) {
    if (typeof n === "string" && n !== "default" && !v.networks.has(n))
      add("external", "networks", `'${show(n)}' is not declared in the stack's top-level networks: it would name a network outside the stack`);
  }
  for (const key of ["env_file", "label_file"]) {
    for (const e of list(s[key])) path("env_file", key, "file", isMap(e) ? e.path : e);
  }
  build(s.build, add, path);
  const log = isMap(s.logging) ? s.logging : null;
  if (log) {
    if (log.driver !== undefined && !LOG_DRIVERS.has(String(log.driver)))
      add("logging", "logging.driver", `${show(log.driver)} is not allowed (${[...LOG_DRIVERS].join(", ")})`);
    if (isMap(log.options) && log.options.path !== undefined) add("logging", "logging.options.path", "writes the log to a host path");
  }
  const annotations = Array.isArray(s.annotations)
    ? s.annotations.map((a) => String(a).split("=")[0] ?? "")
    : isMap(s.annotations)
      ? Object.keys(s.annotations)
      : [];
  const reserved = annotations.filter((a) => RESERVED_ANNOTATION.test(a));
  if (reserved.length) add("annotations", "annotations", `${reserved.map((a) => `'${a}'`).join(", ")}: runtime annotations are not allowed`);
  return out;
}

type Add = (rule: RuleId, key: string, message: string) => void;
type PathCheck = (rule: RuleId, key: string, what: string, p: unknown, base?: string) => string | null;

/** Service volumes, short (`SRC:DST[:MODE]`) and long syntax. */
function volumes(part: ServicePart, v: StackView, add: Add, path: PathCheck): void {
  const entries = part.spec.volumes;
  if (entries !== undefined && entries !== null && !Array.isArray(entries)) {
    add("bind_mounts", "volumes", "is not a list");
    return;
  }
  for (const e of entries ?? []) {
    let type: string;
    let source: unknown;
    if (typeof e === "string") {
      const parts = e.split(":");
      source = parts.length > 1 ? parts[0] : undefined;
      type = typeof source === "string" && (looksLikePath(source) || hostVarsIn(source).length) ? "bind" : "volume";
    } else if (isMap(e)) {
      source = e.source;
      type = typeof e.type === "string" ? e.type : typeof source === "string" && looksLikePath(source) ? "bind" : "volume";
    } else {
      add("bind_mounts", "volumes", `${show(e)} is not a mount`);
      continue;
    }
    if (type === "bind") {
      const real = path("bind_mounts", "volumes", "bind mount", source ?? "");
      if (real && (real === posix.join(v.root, ".sandboxer") || real.startsWith(`${posix.join(v.root, ".sandboxer")}/`))) {
        add("bind_mounts", "volumes", `bind mount '${String(source)}' is sand-boxer's own directory`);
      } else if (real) {
        const readOnly = typeof e === "string" ? /(^|,)ro(,|$)/.test(e.split(":")[2] ?? "") : isMap(e) && truthy(e.read_only);
        v.binds.push({ service: part.service, source: String(source), path: real, writable: !readOnly });
      }
    } else if (type === "volume") {
      if (typeof source === "string" && source !== "" && !v.volumes.has(source)) {
        add("external", "volumes", `volume '${showValue(source)}' is not declared in the stack's top-level volumes: it would name a volume outside the stack`);
      }
    } else if (type !== "tmpfs" && type !== "image") {
      add("bind_mounts", "volumes", `mount type '${show(type)}' is not allowed`);
    }
  }
}

function build(b: unknown, add: Add, path: PathCheck): void {
  if (b === undefined || b === null) return;
  const spec = isMap(b) ? b : { context: b };
  const context = typeof spec.context === "string" ? spec.context : ".";
  let contextDir: string | null = null;
  if (!REMOTE_CONTEXT.test(context)) contextDir = path("build", "build.context", "context", context);
  if (contextDir && typeof spec.dockerfile === "string") path("build", "build.dockerfile", "dockerfile", spec.dockerfile, contextDir);
  const extra = isMap(spec.additional_contexts)
    ? Object.values(spec.additional_contexts)
    : list(spec.additional_contexts).map((x) => String(x).split("=").slice(1).join("="));
  for (const x of extra) {
    if (typeof x === "string" && !REMOTE_CONTEXT.test(x) && !/^(docker-image|service|target):/.test(x))
      path("build", "build.additional_contexts", "context", x);
  }
  const ssh = isMap(spec.ssh)
    ? Object.values(spec.ssh)
    : list(spec.ssh).map((x) => (String(x).includes("=") ? String(x).split("=").slice(1).join("=") : "default"));
  for (const x of ssh) if (x !== "default") for (const p of String(x).split(",")) path("build", "build.ssh", "key", p);
  for (const key of ["cache_from", "cache_to"]) {
    for (const c of list(spec[key])) {
      const text = String(c);
      if (!/(^|,)type=local(,|$)/.test(text)) continue;
      for (const m of text.matchAll(/(?:^|,)(src|dest)=([^,]*)/g)) path("build", `build.${key}`, "cache", m[2]);
    }
  }
  if (spec.network !== undefined && !/^(none|default|bridge)?$/.test(String(spec.network)))
    add("build", "build.network", `${show(spec.network)} is not allowed`);
  if (spec.privileged !== undefined && truthy(spec.privileged)) add("build", "build.privileged", `${show(spec.privileged)} is not allowed`);
  if (nonEmpty(spec.entitlements)) add("build", "build.entitlements", `${show(spec.entitlements)} are not allowed`);
}

/**
 * A container that may write a bind's directory can put a symlink in it; a
 * mount whose source lies below that directory, made later (another service,
 * a restart), follows the link on the host. So a bind may not sit inside
 * another service's (or its own) writable bind.
 */
export function nestedBinds(binds: readonly Bind[]): Omit<Violation, "via">[] {
  const out: Omit<Violation, "via">[] = [];
  const seen = new Set<string>();
  for (const inner of binds) {
    const outer = binds.find((o) => o.writable && inner.path.startsWith(`${o.path}/`));
    const id = `${inner.service}\n${inner.source}`;
    if (!outer || seen.has(id)) continue;
    seen.add(id);
    out.push({
      service: inner.service,
      rule: "bind_mounts",
      key: "volumes",
      message: `bind mount '${inner.source}' lies inside '${outer.source}', which service '${outer.service}' mounts writable: a link put there would redirect this mount on the host (mount '${outer.source}' read-only, or use a named volume)`,
    });
  }
  return out;
}
