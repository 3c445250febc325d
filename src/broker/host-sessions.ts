import { profileSchema } from "../catalog/schema.js";
import type { Env, Paths } from "../config.js";
import { SandboxerError, toSandboxerError } from "../errors.js";
import type { BackendResource, Extension, ExtensionContext } from "../extensions/define.js";
import { loadExtension } from "../extensions/index.js";
import { localTransport } from "../transport/local.js";
import { isSshTransport, sshTransport } from "../transport/ssh.js";
import type { Transport } from "../transport/types.js";
import { type Host, type JsonObject, type Sandbox, systemClock } from "../types.js";

/**
 * Which extensions place resources on a host, so inspection knows whom to ask:
 * bubblewrap sandboxes on this machine, compose stacks on SSH hosts, agent-sandbox objects on clusters.
 */
export function extensionsOn(host: Host): string[] {
  if (host.cluster) return ["ext.kubernetes"];
  return host.name === "localhost" ? ["ext.local"] : ["ext.compose-ssh"];
}

/** One transport per host for a whole inspection (one SSH handshake per host), closed by `close()`. */
export class HostSessions {
  private readonly transports = new Map<string, Transport>();
  constructor(
    private readonly inventory: ReadonlyMap<string, Host>,
    private readonly paths: Paths,
    readonly env: Env,
  ) {}

  hosts(name?: string): Host[] {
    const all = [...this.inventory.values()];
    if (name === undefined) return all;
    const h = all.find((x) => x.name === name);
    if (!h) throw new SandboxerError("SBX_HOST_NOT_FOUND", `host: '${name.slice(0, 64)}' is not in the hosts inventory (see: sandboxer hosts list)`, { details: { field: "host" } });
    return [h];
  }

  transport(host: Host): Transport {
    let t = this.transports.get(host.name);
    if (!t) {
      // A cluster has no shell to reach: its extension talks to the API server itself.
      t = host.name === "localhost" || host.cluster ? localTransport() : sshTransport({ host, env: this.env, runDir: this.paths.run });
      this.transports.set(host.name, t);
    }
    return t;
  }

  /** A context for list/teardown outside any create: no record needed (the record may be lost). */
  context(host: Host, sandbox?: Sandbox, extension = "ext.compose-ssh"): ExtensionContext {
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

  /** `null` when reachable, else why not. A cluster answers (or not) through its extension's list. */
  async probe(host: Host): Promise<string | null> {
    if (host.name === "localhost" || host.cluster) return null;
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

  /** Every resource the host's extensions report, tagged with the extension. */
  async resources(host: Host): Promise<(BackendResource & { extension: string })[]> {
    const out: (BackendResource & { extension: string })[] = [];
    for (const id of extensionsOn(host)) {
      const ext: Extension = await loadExtension(id);
      if (!ext.list) continue;
      for (const r of await ext.list(this.context(host, undefined, id))) out.push({ ...r, extension: id });
    }
    return out;
  }

  async close(): Promise<void> {
    for (const t of this.transports.values()) await t.close().catch(() => {});
  }
}

export type HostFacts = JsonObject;
