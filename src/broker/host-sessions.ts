import { profileSchema } from "../catalog/schema.js";
import type { Env, Paths } from "../config.js";
import { SandboxerError, toSandboxerError } from "../errors.js";
import type { BackendResource, Extension, ExtensionContext, ListWhere } from "../extensions/define.js";
import { hostKind, transportForHost } from "../transport/for-host.js";
import { isSshTransport } from "../transport/ssh.js";
import type { Transport } from "../transport/types.js";
import { type Host, type JsonObject, type Sandbox, systemClock } from "../types.js";
import type { Runtime } from "./runtime.js";
import { extensionOf } from "./runtime.js";

export type FoundResource = BackendResource & { extension: string; where: ListWhere };

/** What the extensions listed on one host: their resources, who answered, who could not. */
export interface HostListing {
  found: FoundResource[];
  /** Extensions whose list completed: only their records can be ghosts. */
  listed: Set<string>;
  errors: { extension: string; where: ListWhere; error: SandboxerError }[];
}

/** Every registered extension (enabled or not: a disabled one may still have leftovers), loaded once. */
export async function registeredExtensions(rt: Runtime): Promise<Extension[]> {
  const out: Extension[] = [];
  for (const id of (await rt.catalog()).registrations.keys()) {
    const ext = await extensionOf(rt, id).catch(() => undefined);
    if (ext) out.push(ext);
  }
  return out;
}

/**
 * One transport per host for a whole inspection (one SSH handshake per host),
 * closed by `close()`. Which extensions to ask about a host comes from what
 * each declares (`placement`), never from a backend's name.
 */
export class HostSessions {
  private readonly transports = new Map<string, Transport>();
  constructor(
    private readonly inventory: ReadonlyMap<string, Host>,
    private readonly paths: Paths,
    readonly env: Env,
    private readonly extensions: readonly Extension[],
  ) {}

  hosts(name?: string): Host[] {
    const all = [...this.inventory.values()];
    if (name === undefined) return all;
    const h = all.find((x) => x.name === name);
    if (!h)
      throw new SandboxerError("SBX_HOST_NOT_FOUND", `host: '${name.slice(0, 64)}' is not in the hosts inventory (see: sandboxer hosts list)`, {
        details: { field: "host" },
      });
    return [h];
  }

  transport(host: Host): Transport {
    let t = this.transports.get(host.name);
    if (!t) {
      t = transportForHost(host, this.env, this.paths.run);
      this.transports.set(host.name, t);
    }
    return t;
  }

  /** Extensions that place sandboxes on hosts of this kind. */
  placedOn(host: Host): Extension[] {
    return this.extensions.filter((e) => e.placement.hosts.includes(hostKind(host)));
  }

  /** A context for list/teardown outside any create: no record needed (the record may be lost). */
  context(host: Host, sandbox: Sandbox | undefined, extension: string): ExtensionContext {
    const profile = { ...profileSchema.parse({ id: "profile.reap-stale", version: 1, extension }), file: "(reap-stale)" };
    return {
      sandbox: sandbox ?? ({ id: "sbx-aaaaaaaaaaaa" } as Sandbox),
      profile,
      host,
      transport: this.transport(host),
      paths: this.paths,
      env: this.env,
      clock: systemClock,
      signal: new AbortController().signal,
      progress() {},
      async checkpoint() {},
    };
  }

  /**
   * `null` when reachable, else why not. Only hosts where some extension runs
   * commands (`placement.shell`) are probed; the others (a cluster) answer, or
   * not, through their extension's list.
   */
  async probe(host: Host): Promise<string | null> {
    if (hostKind(host) === "localhost" || !this.placedOn(host).some((e) => e.placement.shell)) return null;
    try {
      const t = this.transport(host);
      if (isSshTransport(t)) {
        await t.connect({ timeoutMs: 15_000 });
        return null;
      }
      const res = await t.run(["true"], { timeoutMs: 15_000 });
      return res.code === 0 ? null : `exit ${res.code}: ${res.stderr.trim().slice(-200)}`;
    } catch (err) {
      return toSandboxerError(err).message;
    }
  }

  /**
   * What every extension placed on this host lists there, and with `remote`
   * (asked on localhost) what extensions with a remote place (vendor accounts,
   * VMs) list there. A vendor without credentials here is not configured: skipped.
   */
  async list(host: Host, opts: { remote: boolean }): Promise<HostListing> {
    const out: HostListing = { found: [], listed: new Set(), errors: [] };
    const asks: [Extension, ListWhere][] = this.placedOn(host).map((e) => [e, "host"]);
    if (opts.remote && hostKind(host) === "localhost") for (const e of this.extensions) if (e.placement.remote) asks.push([e, "remote"]);
    const failed = new Set<string>();
    for (const [ext, where] of asks) {
      if (!ext.list) continue;
      try {
        for (const r of await ext.list(this.context(host, undefined, ext.id), where)) out.found.push({ ...r, extension: ext.id, where });
        out.listed.add(ext.id);
      } catch (err) {
        const e = toSandboxerError(err);
        failed.add(ext.id);
        if (e.code !== "SBX_DEPENDENCY_MISSING") out.errors.push({ extension: ext.id, where, error: e });
      }
    }
    for (const id of failed) out.listed.delete(id);
    return out;
  }

  async close(): Promise<void> {
    for (const t of this.transports.values()) await t.close().catch(() => {});
  }
}

export type HostFacts = JsonObject;
