/**
 * The ops bridge's port registry: which reverse-tunnel port (12221-12230)
 * carries which VM slot. sand-boxer reads it to choose and check `tunnel_port`
 * and to print the tunnel config an operator keeps on the VM. Read-only:
 * sand-boxer never starts or stops tunnels.
 *
 *   # port-registry.yml
 *   bridge: { host: ops-bridge.example, user: tunnel }
 *   range: [12221, 12230]
 *   slots:
 *     - { slot: 2, port: 12222, vm: haskell-build, workspaceRoot: /build }
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { z } from "zod";
import { type Env, expandHome, type Paths } from "../../config.js";
import { SandboxerError } from "../../errors.js";
import { parseLocated } from "./yaml-lines.js";

const NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const port = z.number().int().min(1).max(65535);

const registrySchema = z.strictObject({
  bridge: z
    .strictObject({
      host: z.string().regex(/^[A-Za-z0-9_.:-]+$/),
      user: z
        .string()
        .regex(/^[a-z_][a-z0-9_-]*$/)
        .optional(),
      port: port.optional(),
    })
    .optional(),
  range: z.tuple([port, port]).default([12221, 12230]),
  slots: z
    .array(
      z.strictObject({
        slot: z.number().int().positive(),
        port,
        vm: z.string().regex(NAME, "a VM ssh alias: lowercase [a-z0-9_.-]"),
        workspaceRoot: z
          .string()
          .regex(/^\/[A-Za-z0-9_./-]*[A-Za-z0-9_-]$/, "an absolute path, not /")
          .optional(),
        description: z.string().optional(),
      }),
    )
    .default([]),
});

export type PortRegistry = z.infer<typeof registrySchema> & { file: string };
export type Slot = PortRegistry["slots"][number];

export function registryPath(paths: Pick<Paths, "configFile">, env: Env): string {
  return env.SANDBOXER_PORT_REGISTRY ? expandHome(env.SANDBOXER_PORT_REGISTRY, env) : join(dirname(paths.configFile), "port-registry.yml");
}

/**
 * Load and check the registry; absent = null (no tunnel policy). Only the
 * documented shape is read (docs/migration-build-machines.md): anything else
 * is refused, every problem as `FILE:LINE: FIELD: why`, all at once.
 */
export function loadPortRegistry(paths: Pick<Paths, "configFile">, env: Env): PortRegistry | null {
  const file = registryPath(paths, env);
  if (!existsSync(file)) return null;
  const refuse = (problems: string[]) => new SandboxerError("SBX_CONFIG_INVALID", problems.map((p) => `${file}:${p}`).join("\n"), { details: { file } });
  const yaml = parseLocated(readFileSync(file, "utf8"));
  if (yaml.errors.length) throw refuse(yaml.errors.map((e) => `${e.line}: (yaml): ${e.message}`));
  const res = registrySchema.safeParse(yaml.value ?? {});
  if (!res.success) {
    const problems: string[] = [];
    for (const i of res.error.issues) {
      // An unknown key is reported at its own line, under its own name.
      const keys = i.code === "unrecognized_keys" ? i.keys : [null];
      for (const k of keys) {
        const path = k === null ? i.path : [...i.path, k];
        const field = path.map(String).join(".") || "(root)";
        const why = k === null ? i.message : "not a field of port-registry.yml (see docs/migration-build-machines.md)";
        problems.push(`${yaml.lineOf(path, { key: k !== null })}: ${field}: ${why}`);
      }
    }
    throw refuse(problems);
  }
  const reg = { ...res.data, file };
  const problems: string[] = [];
  const at = (path: (string | number)[], why: string) => problems.push(`${yaml.lineOf(path)}: ${path.join(".")}: ${why}`);
  const [lo, hi] = reg.range;
  if (lo > hi) at(["range"], `[${lo}, ${hi}] is empty (the first port must not be above the last)`);
  const seenPorts = new Map<number, number>();
  const seenSlots = new Set<number>();
  const seenVms = new Map<string, number>();
  reg.slots.forEach((s, i) => {
    if (s.port < lo || s.port > hi) at(["slots", i, "port"], `${s.port} is outside the tunnel range ${lo}-${hi}`);
    if (seenPorts.has(s.port)) at(["slots", i, "port"], `${s.port} is already slot ${seenPorts.get(s.port)}`);
    if (seenSlots.has(s.slot)) at(["slots", i, "slot"], `slot ${s.slot} appears twice`);
    if (seenVms.has(s.vm)) at(["slots", i, "vm"], `VM '${s.vm}' already has slot ${seenVms.get(s.vm)} (one tunnel port per VM)`);
    seenPorts.set(s.port, s.slot);
    seenSlots.add(s.slot);
    seenVms.set(s.vm, s.slot);
  });
  if (problems.length) throw refuse(problems);
  return reg;
}

/**
 * Pick or check the tunnel port for a VM: the one asked for (input, then
 * SANDBOXER_VM_TUNNEL_PORT) must be the VM's slot when a registry exists;
 * with none asked for, the VM's slot is used. Null = let ssh_config decide.
 */
export function chooseTunnelPort(reg: PortRegistry | null, vm: string, asked: number | null): { port: number | null; slot: Slot | null } {
  const mine = reg?.slots.find((s) => s.vm === vm) ?? null;
  if (asked === null) return { port: mine?.port ?? null, slot: mine };
  if (!reg) return { port: asked, slot: null };
  const owner = reg.slots.find((s) => s.port === asked);
  const fail = (why: string) => new SandboxerError("SBX_INPUT_INVALID", `input 'tunnel_port': ${why} (${reg.file})`, { details: { field: "tunnel_port" } });
  const [lo, hi] = reg.range;
  if (asked < lo || asked > hi) throw fail(`${asked} is outside the tunnel range ${lo}-${hi}`);
  if (!owner) throw fail(`${asked} is not assigned to any VM slot`);
  if (owner.vm !== vm) throw fail(`${asked} is slot ${owner.slot} of VM '${owner.vm}', not '${vm}'`);
  return { port: asked, slot: owner };
}

/**
 * The config an operator keeps for a slot: the VM side holds the reverse
 * tunnel open on the bridge, the operator side reaches the VM through it.
 */
export function tunnelSnippet(reg: PortRegistry | null, vm: string, port: number): string {
  const slot = reg?.slots.find((s) => s.port === port);
  const bridge = reg?.bridge;
  const bridgeHost = bridge?.host ?? "ops-bridge";
  const lines = [
    `# ${slot ? `slot ${slot.slot}, ` : ""}tunnel port ${port} -> ${vm}:22 (read-only: sand-boxer does not start tunnels)`,
    "# on the VM (~/.ssh/config, kept up by autossh or a systemd unit):",
    "Host ops-bridge-tunnel",
    `  HostName ${bridgeHost}`,
    ...(bridge?.user ? [`  User ${bridge.user}`] : []),
    ...(bridge?.port ? [`  Port ${bridge.port}`] : []),
    `  RemoteForward ${port} localhost:22`,
    "  ExitOnForwardFailure yes",
    "  ServerAliveInterval 30",
    "# on the operator's machine (SANDBOXER_SSH_CONFIG):",
    `Host ${vm}`,
    "  HostName localhost",
    `  Port ${port}`,
    `  ProxyJump ${bridge?.user ? `${bridge.user}@` : ""}${bridgeHost}${bridge?.port ? `:${bridge.port}` : ""}`,
  ];
  return lines.join("\n");
}
