// biome-ignore-all lint/suspicious/noTemplateCurlyInString: compose files and .env text use ${VAR} literally
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, posix } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createApp } from "../src/api/app.js";
import { loadCatalog } from "../src/catalog/load.js";
import { resolvePaths } from "../src/config.js";
import { SandboxerError } from "../src/errors.js";
import type { StackFs } from "../src/extensions/compose-ssh/confine.js";
import { parseDotEnv } from "../src/extensions/compose-ssh/dotenv.js";
import { interpolate, lookupIn } from "../src/extensions/compose-ssh/interpolate.js";
import { checkStack, formatViolations } from "../src/extensions/compose-ssh/policy.js";
import { enforceComposePolicy } from "../src/extensions/compose-ssh/policy-check.js";
import type { RuleId, Violation } from "../src/extensions/compose-ssh/violations.js";
import { makeHome } from "./helpers/home.js";

/** An in-memory stack under /stack: a string is a file, `{ link }` a symlink. */
type Tree = Record<string, string | { link: string }>;
const ROOT = "/stack";

function memFs(tree: Tree): StackFs {
  const at = (p: string) => tree[posix.relative(ROOT, p)];
  return {
    read(p) {
      // Follow links the way the kernel would, for reads of a file through a link.
      let path = p;
      for (let i = 0; i < 10; i++) {
        const e = at(path);
        if (typeof e === "string") return e;
        if (!e) return undefined;
        path = posix.resolve(posix.dirname(path), e.link);
      }
      return undefined;
    },
    readlink(p) {
      const e = at(p);
      return e && typeof e === "object" ? e.link : undefined;
    },
  };
}

function check(tree: Tree, allow: RuleId[] = [], file = "compose.yaml"): Violation[] {
  return checkStack({ root: ROOT, file, fs: memFs(tree), allow });
}

/** One service `web` with these extra lines (indented under it). */
const web = (lines: string, extra = "") => `services:\n  web:\n    image: localhost/app\n${lines.replace(/^/gm, "    ")}\n${extra}`;

interface Case {
  name: string;
  tree: Tree;
  allow?: RuleId[];
  /** Expected violations: rule and a pattern over `key: message` (service prefix included when given). */
  want: { rule: RuleId; service?: string; match: RegExp }[];
}

const CASES: Case[] = [
  {
    name: "a clean stack: named volume, binds inside the stack, build, env_file, sysctls",
    tree: {
      "compose.yaml": web(
        'volumes: ["data:/var/lib/data", "./src:/src:ro", {type: bind, source: ./cache, target: /cache}, "/anon"]\nbuild: { context: ., dockerfile: docker/Dockerfile }\nenv_file: [app.env]\nsysctls: { net.core.somaxconn: 1024 }\nsecurity_opt: ["no-new-privileges:true"]\ncap_drop: [ALL]\nnetwork_mode: bridge',
        "volumes:\n  data: {}\n  scratch: { driver_opts: { type: tmpfs, device: tmpfs, o: size=64m } }\n",
      ),
      "app.env": "A=1\n",
      "docker/Dockerfile": "FROM scratch\n",
    },
    want: [],
  },
  {
    name: "privileged: true",
    tree: { "compose.yaml": web("privileged: true") },
    want: [{ rule: "privileged", service: "web", match: /^privileged: true is not allowed$/ }],
  },
  {
    name: "privileged: yes / on (YAML 1.1 booleans)",
    tree: { "compose.yaml": `${web("privileged: yes")}  b:\n    privileged: on\n  c:\n    privileged: off\n` },
    want: [
      { rule: "privileged", service: "web", match: /privileged: yes is not allowed/ },
      { rule: "privileged", service: "b", match: /privileged: on is not allowed/ },
    ],
  },
  { name: "privileged: false is fine", tree: { "compose.yaml": web("privileged: false") }, want: [] },
  {
    name: "privileged: ${P} interpolated from the stack's .env",
    tree: { "compose.yaml": web("privileged: ${P}"), ".env": "P=true\n" },
    want: [{ rule: "privileged", match: /privileged: true is not allowed/ }],
  },
  { name: "privileged: ${P} unset interpolates to empty: not privileged", tree: { "compose.yaml": web("privileged: ${P}") }, want: [] },
  {
    name: "privileged: ${P:-true} with P empty: docker takes the default (podman-compose would not)",
    tree: { "compose.yaml": web("privileged: ${P:-true}"), ".env": "P=\n" },
    want: [{ rule: "privileged", match: /privileged: true/ }],
  },
  {
    name: ".env values refer to earlier keys and defaults",
    tree: { "compose.yaml": web("privileged: ${P}"), ".env": '# comment\nBASE=${NOPE:-true}\nexport P="${BASE}"\n' },
    want: [{ rule: "privileged", match: /privileged: true/ }],
  },
  {
    name: "a host variable the engine still sees is unknown, so it is refused where it matters",
    tree: { "compose.yaml": web('privileged: "${USER}"\nvolumes: ["${HOME}/.ssh:/keys"]\nenvironment: { WHO: "${USER}" }') },
    want: [
      { rule: "privileged", match: /privileged: \$\{USER\} is not allowed/ },
      { rule: "bind_mounts", match: /bind mount '\$\{HOME\}\/\.ssh' depends on the host's environment/ },
    ],
  },
  {
    name: "$$ escapes stay literal (a directory named $HOME inside the stack)",
    tree: { "compose.yaml": web('volumes: ["./$$HOME:/h", "./$${X}:/x"]') },
    want: [],
  },
  {
    name: "cap_add",
    tree: { "compose.yaml": web("cap_add: [SYS_ADMIN, NET_ADMIN]") },
    want: [{ rule: "cap_add", match: /cap_add: \[SYS_ADMIN, NET_ADMIN\] is not allowed/ }],
  },
  {
    name: "devices, gpus, device cgroup rules, device reservations",
    tree: {
      "compose.yaml": web(
        'devices: ["/dev/sda:/dev/sda"]\ngpus: all\ndevice_cgroup_rules: ["c 1:3 mr"]\ndeploy: { resources: { reservations: { devices: [{ capabilities: [gpu] }] } } }',
      ),
    },
    want: [
      { rule: "devices", match: /^devices: / },
      { rule: "devices", match: /^gpus: / },
      { rule: "devices", match: /^device_cgroup_rules: / },
      { rule: "devices", match: /^deploy\.resources\.reservations\.devices: / },
    ],
  },
  {
    name: "network_mode: host",
    tree: { "compose.yaml": web("network_mode: host") },
    want: [{ rule: "network_mode", match: /network_mode: host is not allowed/ }],
  },
  {
    name: "network_mode: container:x points outside",
    tree: { "compose.yaml": web('network_mode: "container:other"') },
    want: [{ rule: "network_mode", match: /container:other points outside the stack/ }],
  },
  {
    name: "network_mode: ns:/proc/1/ns/net",
    tree: { "compose.yaml": web('network_mode: "ns:/proc/1/ns/net"') },
    want: [{ rule: "network_mode", match: /points outside the stack/ }],
  },
  {
    name: "network_mode / pid / ipc: service:NAME in the stack is fine, outside it is not",
    tree: { "compose.yaml": `${web('network_mode: "service:db"\npid: "service:db"\nipc: "service:ghost"')}  db:\n    image: localhost/db\n` },
    want: [{ rule: "ipc", match: /ipc: service:ghost points outside the stack/ }],
  },
  {
    name: "host namespaces: pid, ipc, uts, userns_mode, cgroup, cgroupns_mode; cgroup_parent",
    tree: { "compose.yaml": web("pid: host\nipc: host\nuts: host\nuserns_mode: host\ncgroup: host\ncgroupns_mode: host\ncgroup_parent: /system.slice") },
    want: [
      { rule: "pid", match: /^pid: host/ },
      { rule: "ipc", match: /^ipc: host/ },
      { rule: "uts", match: /^uts: host/ },
      { rule: "userns_mode", match: /^userns_mode: host/ },
      { rule: "cgroup", match: /^cgroup: host/ },
      { rule: "cgroup", match: /^cgroupns_mode: host/ },
      { rule: "cgroup_parent", match: /^cgroup_parent: / },
    ],
  },
  { name: "ipc: shareable and userns_mode: keep-id are fine", tree: { "compose.yaml": web("ipc: shareable\nuserns_mode: keep-id") }, want: [] },
  {
    name: "security_opt entries that disable confinement",
    tree: {
      "compose.yaml": web(
        'security_opt: ["seccomp:unconfined", "apparmor=unconfined", "label:disable", "label=type:spc_t", "no-new-privileges=false", "systempaths=unconfined", "no-new-privileges"]',
      ),
    },
    want: [
      {
        rule: "security_opt",
        match:
          /'seccomp:unconfined', 'apparmor=unconfined', 'label:disable', 'label=type:spc_t', 'no-new-privileges=false', 'systempaths=unconfined' are not allowed/,
      },
    ],
  },
  {
    name: "bind mount ../ out of the stack",
    tree: { "compose.yaml": web('volumes: ["../secrets:/s"]') },
    want: [{ rule: "bind_mounts", match: /bind mount '\.\.\/secrets' resolves outside the stack directory/ }],
  },
  {
    name: "bind mount of an absolute host path",
    tree: { "compose.yaml": web('volumes: ["/:/host"]') },
    want: [{ rule: "bind_mounts", match: /bind mount '\/' is an absolute path on the host/ }],
  },
  { name: "bind mount of ~", tree: { "compose.yaml": web('volumes: ["~/.ssh:/k"]') }, want: [{ rule: "bind_mounts", match: /engine user's home/ }] },
  {
    name: "long-syntax bind out of the stack",
    tree: { "compose.yaml": web("volumes: [{ type: bind, source: ../../etc, target: /etc2 }]") },
    want: [{ rule: "bind_mounts", match: /'\.\.\/\.\.\/etc' resolves outside/ }],
  },
  {
    name: "long syntax without type, path source",
    tree: { "compose.yaml": web("volumes: [{ source: /var/run/docker.sock, target: /s }]") },
    want: [{ rule: "bind_mounts", match: /absolute path/ }],
  },
  {
    name: "a symlink in the repo pointing out, used as a bind source",
    tree: { "compose.yaml": web('volumes: ["./data:/d", "./deep/x:/x"]'), data: { link: "/etc" }, deep: { link: "../.." } },
    want: [
      { rule: "bind_mounts", match: /'\.\/data' resolves outside/ },
      { rule: "bind_mounts", match: /'\.\/deep\/x' resolves outside/ },
    ],
  },
  {
    name: "a symlink inside the stack that stays inside is fine; `link/..` is read as the kernel would",
    tree: { "compose.yaml": web('volumes: ["./alias:/a", "./up/../x:/x"]'), alias: { link: "real" }, up: { link: "/etc/ssh" } },
    want: [{ rule: "bind_mounts", match: /'\.\/up\/\.\.\/x' resolves outside/ }],
  },
  {
    name: "a bind inside another service's writable bind (a link put there would redirect it)",
    tree: {
      "compose.yaml": `${web('volumes: ["./shared:/s"]')}  b:\n    image: x\n    volumes: ["./shared/sub:/x:ro", "./other:/o"]\n  c:\n    image: x\n    volumes: [".:/app", "./other/deep:/d"]\n`,
    },
    want: [
      { rule: "bind_mounts", service: "b", match: /bind mount '\.\/shared\/sub' lies inside '\.\/shared', which service 'web' mounts writable/ },
      { rule: "bind_mounts", service: "b", match: /bind mount '\.\/other' lies inside '\.', which service 'c' mounts writable/ },
      { rule: "bind_mounts", service: "c", match: /bind mount '\.\/other\/deep' lies inside/ },
      { rule: "bind_mounts", service: "web", match: /bind mount '\.\/shared' lies inside '\.'/ },
    ],
  },
  {
    name: "nested binds are fine when the outer one is read-only",
    tree: { "compose.yaml": web('volumes: [{ type: bind, source: ., target: /app, read_only: true }, "./data:/data", "./src:/src:ro,z"]') },
    want: [],
  },
  {
    name: "sand-boxer's own .sandboxer directory is not a bind source",
    tree: { "compose.yaml": web('volumes: ["./.sandboxer:/s"]') },
    want: [{ rule: "bind_mounts", match: /sand-boxer's own directory/ }],
  },
  {
    name: "npipe mounts",
    tree: { "compose.yaml": web("volumes: [{ type: npipe, source: x, target: /x }]") },
    want: [{ rule: "bind_mounts", match: /mount type 'npipe'/ }],
  },
  {
    name: "named volumes: undeclared, external, renamed, bound by driver_opts",
    tree: {
      "compose.yaml": web(
        'volumes: ["other_tenant_data:/d", "ext:/e", "named:/n", "hostdir:/h"]',
        "volumes:\n  ext: { external: true }\n  named: { name: sbx-aaaaaaaaaaaa_data }\n  hostdir: { driver: local, driver_opts: { type: none, o: bind, device: /srv } }\n",
      ),
    },
    want: [
      { rule: "external", match: /volume 'other_tenant_data' is not declared/ },
      { rule: "external", match: /'ext' is external/ },
      { rule: "external", match: /'named' sets name 'sbx-aaaaaaaaaaaa_data'/ },
      { rule: "bind_mounts", match: /'hostdir' has driver_opts that bind/ },
    ],
  },
  {
    name: "volumes_from another container",
    tree: { "compose.yaml": `${web('volumes_from: ["container:other", "db:ro", "ghost"]')}  db:\n    image: localhost/db\n` },
    want: [
      { rule: "volumes_from", match: /'container:other' points outside/ },
      { rule: "volumes_from", match: /'ghost' is not a service/ },
    ],
  },
  {
    name: "env_file outside the stack (string, list, object, through a symlink)",
    tree: {
      "compose.yaml": web("env_file: [../server.env, /etc/environment, { path: ./link.env, required: false }]"),
      "link.env": { link: "/root/.aws/credentials" },
    },
    want: [
      { rule: "env_file", match: /'\.\.\/server\.env' resolves outside/ },
      { rule: "env_file", match: /'\/etc\/environment' is an absolute path/ },
      { rule: "env_file", match: /'\.\/link\.env' resolves outside/ },
    ],
  },
  {
    name: "build: context, dockerfile, additional contexts, ssh, cache, network, privileged, entitlements",
    tree: {
      "compose.yaml": web(
        "build:\n  context: ./app\n  dockerfile: ../../Dockerfile\n  additional_contexts: { up: ../, img: docker-image://alpine }\n  ssh: [default, key=/root/.ssh/id_ed25519]\n  cache_to: ['type=local,dest=/var/cache/x']\n  network: host\n  privileged: true\n  entitlements: [network.host]",
      ),
    },
    want: [
      { rule: "build", match: /build\.dockerfile: dockerfile '\.\.\/\.\.\/Dockerfile' resolves outside/ },
      { rule: "build", match: /build\.additional_contexts: context '\.\.\/' resolves outside/ },
      { rule: "build", match: /build\.ssh: key '\/root\/\.ssh\/id_ed25519' is an absolute path/ },
      { rule: "build", match: /build\.cache_to: cache '\/var\/cache\/x'/ },
      { rule: "build", match: /build\.network: host/ },
      { rule: "build", match: /build\.privileged/ },
      { rule: "build", match: /build\.entitlements/ },
    ],
  },
  {
    name: "build context outside; a git URL is fine",
    tree: { "compose.yaml": `${web("build: ..")}  b:\n    build: https://github.com/example/app.git\n` },
    want: [{ rule: "build", match: /context '\.\.' resolves outside/ }],
  },
  {
    name: "configs and secrets read host files or the engine's environment",
    tree: {
      "compose.yaml": web(
        "restart: always",
        "secrets:\n  key: { file: ../id_rsa }\n  tok: { environment: HOME }\n  ok: { file: ./secret.txt }\nconfigs:\n  conf: { file: /etc/passwd }\n",
      ),
    },
    want: [
      { rule: "secrets", match: /'key' file '\.\.\/id_rsa' resolves outside/ },
      { rule: "secrets", match: /'tok' reads 'HOME' from the engine's environment/ },
      { rule: "configs", match: /'conf' file '\/etc\/passwd' is an absolute path/ },
    ],
  },
  {
    name: "extends in the same file brings privileged to the child",
    tree: { "compose.yaml": "services:\n  base:\n    image: x\n    profiles: [never]\n    privileged: true\n  web:\n    extends: base\n" },
    want: [
      { rule: "privileged", service: "base", match: /privileged: true/ },
      { rule: "privileged", service: "web", match: /privileged: true/ },
    ],
  },
  {
    name: "a forbidden key arriving through extends from another file (its paths resolve there)",
    tree: {
      "compose.yaml": web("extends: { file: common/base.yaml, service: base }"),
      "common/base.yaml": "services:\n  base:\n    cap_add: [SYS_ADMIN]\n    volumes: ['../../up:/u']\n",
    },
    want: [
      { rule: "cap_add", service: "web", match: /cap_add: \[SYS_ADMIN\]/ },
      { rule: "bind_mounts", service: "web", match: /'\.\.\/\.\.\/up' resolves outside/ },
    ],
  },
  {
    name: "remote includes and extends (content the checker cannot see)",
    tree: {
      "compose.yaml": `include:\n  - oci://registry.example/stack:1\n  - git@github.com:org/stack.git\n${web("extends: { file: 'https://example.com/base.yaml', service: base }")}`,
    },
    want: [
      { rule: "include", match: /'oci:\/\/registry\.example\/stack:1' is a remote file/ },
      { rule: "include", match: /'git@github\.com:org\/stack\.git' is a remote file/ },
      { rule: "extends", match: /'https:\/\/example\.com\/base\.yaml' is a remote file/ },
    ],
  },
  {
    name: "a runtime given as a path, podman-compose extensions",
    tree: { "compose.yaml": web("runtime: ./tools/evil-runtime\nx-podman.rootfs: /\n", "x-podman:\n  pod_args: ['--volume=/:/host']\n") },
    want: [
      { rule: "runtime", match: /runtime: \.\/tools\/evil-runtime is not a runtime name/ },
      { rule: "x-podman", match: /^x-podman\.rootfs: / },
      { rule: "x-podman", match: /^x-podman: podman-compose pod options/ },
    ],
  },
  { name: "a runtime name is fine", tree: { "compose.yaml": web("runtime: runc") }, want: [] },
  {
    name: "extends.file outside the stack",
    tree: { "compose.yaml": web("extends: { file: ../other/compose.yaml, service: x }") },
    want: [{ rule: "extends", match: /extends\.file: '\.\.\/other\/compose\.yaml' resolves outside/ }],
  },
  {
    name: "include: outside the stack, and an included service with a forbidden key",
    tree: {
      "compose.yaml": `include:\n  - ../elsewhere/compose.yaml\n  - path: sub/compose.yaml\n${web("restart: always")}`,
      "sub/compose.yaml": "services:\n  inc:\n    image: x\n    network_mode: ${NET}\n",
      "sub/.env": "NET=host\n",
    },
    want: [
      { rule: "include", match: /'\.\.\/elsewhere\/compose\.yaml' resolves outside/ },
      { rule: "network_mode", service: "inc", match: /network_mode: host/ },
    ],
  },
  {
    name: ".env may not set the engine's own variables; COMPOSE_PROJECT_NAME is harmless",
    tree: { "compose.yaml": web("restart: always"), ".env": "COMPOSE_PROJECT_NAME=app\nDOCKER_HOST=tcp://10.0.0.1:2375\nCONTAINERS_CONF=./c.conf\n" },
    want: [
      { rule: "dotenv", match: /sets DOCKER_HOST/ },
      { rule: "dotenv", match: /sets CONTAINERS_CONF/ },
    ],
  },
  {
    name: "a .env that is a symlink out of the stack",
    tree: { "compose.yaml": web("restart: always"), ".env": { link: "/etc/environment" } },
    want: [{ rule: "dotenv", match: /^\.env: \.env resolves outside/ }],
  },
  {
    name: "logging to a host path, runtime annotations, the API socket, provider services",
    tree: {
      "compose.yaml": web(
        "logging: { driver: k8s-file, options: { path: /etc/cron.d/x } }\nannotations: { io.podman.annotations.label: disable, app: ok }\nuse_api_socket: true\nprovider: { type: model }",
      ),
    },
    want: [
      { rule: "logging", match: /writes the log to a host path/ },
      { rule: "annotations", match: /'io\.podman\.annotations\.label'/ },
      { rule: "use_api_socket", match: /API socket/ },
      { rule: "provider", match: /plugin on the host/ },
    ],
  },
  {
    name: "networks: external, renamed, undeclared, non-bridge drivers",
    tree: {
      "compose.yaml": web(
        "networks: [front, hostnet, nope]",
        "networks:\n  front: { driver: macvlan, driver_opts: { parent: eth0 } }\n  hostnet: { external: true, name: host }\n",
      ),
    },
    want: [
      { rule: "networks", match: /'front' uses network driver 'macvlan'/ },
      { rule: "networks", match: /'front' has driver_opts/ },
      { rule: "external", match: /'hostnet' is external/ },
      { rule: "external", match: /'hostnet' sets name 'host'/ },
      { rule: "external", match: /'nope' is not declared/ },
    ],
  },
  {
    name: "YAML merge keys carry a forbidden key",
    tree: { "compose.yaml": "x-base: &base\n  privileged: true\nservices:\n  web:\n    <<: *base\n    image: x\n" },
    want: [{ rule: "privileged", match: /privileged: true/ }],
  },
  {
    name: "a profile relaxes single rules: privileged allowed, cap_add still refused",
    tree: { "compose.yaml": web("privileged: true\ncap_add: [NET_ADMIN]") },
    allow: ["privileged"],
    want: [{ rule: "cap_add", match: /cap_add/ }],
  },
  {
    name: "the compose file as a symlink into another directory",
    tree: { "compose.yaml": { link: "deploy/compose.yaml" }, "deploy/compose.yaml": web("restart: always") },
    want: [{ rule: "compose_file", match: /symlink into another directory/ }],
  },
];

describe("compose policy: the checker over parsed stacks", () => {
  it.each(CASES)("$name", ({ tree, allow, want }) => {
    const got = check(tree, allow);
    const shown = got.map((v) => `${v.rule} ${v.service ?? "-"} ${v.key}: ${v.message}`);
    for (const w of want) {
      const hit = got.find((v) => v.rule === w.rule && (w.service === undefined || v.service === w.service) && w.match.test(`${v.key}: ${v.message}`));
      expect(hit, `want ${w.rule} ${w.match} in:\n${shown.join("\n")}`).toBeTruthy();
    }
    // Nothing more than expected (each finding matched by some expectation).
    for (const v of got) {
      expect(
        want.some((w) => w.rule === v.rule && w.match.test(`${v.key}: ${v.message}`)),
        `unexpected: ${v.rule} ${v.key}: ${v.message}`,
      ).toBe(true);
    }
  });

  it("names the service and the key, lists every violation at once, and what the profile allows", () => {
    const got = check({ "compose.yaml": `${web("privileged: true")}  db:\n    image: x\n    network_mode: host\n` });
    expect(formatViolations(got, "profile.compose-e2e", [])).toBe(
      "compose policy: service 'web': privileged: true is not allowed; service 'db': network_mode: host is not allowed (profile.compose-e2e allows: none)",
    );
    const bind = check({ "compose.yaml": web('volumes: ["../x:/x"]') });
    expect(formatViolations(bind, "profile.p", ["privileged"])).toBe(
      "compose policy: service 'web': volumes: bind mount '../x' resolves outside the stack directory [rule bind_mounts] (profile.p allows: privileged)",
    );
  });

  it("interpolation follows both dialects", () => {
    const vars = new Map([
      ["A", "a"],
      ["E", ""],
    ]);
    const look = lookupIn(vars);
    const table: [string, string, string][] = [
      ["${A}-$A-$$A", "a-a-$A", "a-a-$A"],
      ["${E:-d}|${E-d}|${U:-d}|${U-d}", "d||d|d", "||d|d"],
      ["${A:+r}|${U:+r}|${A+r}", "r||r", "${A:+r}|${U:+r}|${A+r}"],
      ["${U:-${A}}", "a", "${A}"],
      ["${U:?need}|$", "|$", "|$"],
    ];
    for (const [text, spec, podman] of table) {
      expect(interpolate(text, look, "spec"), text).toBe(spec);
      expect(interpolate(text, look, "podman"), text).toBe(podman);
    }
    expect(interpolate("${HOME:-/x}", look, "spec")).toBe("\uE000HOME\uE000");
  });

  it("reads .env files as the engines do", () => {
    const env = parseDotEnv("A=1 # note\nexport B='two # kept'\nC=\"line\\nnext ${A}\"\nBARE\n# c\nD=${A}${A}\n", "spec");
    expect(Object.fromEntries(env.vars)).toEqual({ A: "1", B: "two # kept", C: "line\nnext 1", D: "11" });
  });
});

describe("compose policy on real files", () => {
  const tmp = mkdtempSync(join(tmpdir(), "sbx-policy-"));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const write = (rel: string, text: string) => {
    mkdirSync(dirname(join(tmp, rel)), { recursive: true });
    writeFileSync(join(tmp, rel), text);
  };

  it("a symlink in the repo pointing out does not help, as a bind source or an env_file", () => {
    write("repo/compose.yaml", web('volumes: ["./state:/state", "./ok:/ok"]\nenv_file: [conf/app.env]'));
    mkdirSync(join(tmp, "repo", "ok"), { recursive: true });
    mkdirSync(join(tmp, "outside"), { recursive: true });
    symlinkSync(join(tmp, "outside"), join(tmp, "repo", "state"));
    symlinkSync("../../outside", join(tmp, "repo", "conf"));
    const err = (() => {
      try {
        enforceComposePolicy(join(tmp, "repo"), "compose.yaml", { id: "profile.t", settings: {} });
      } catch (e) {
        return e as SandboxerError;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(SandboxerError);
    expect(err?.code).toBe("SBX_POLICY_DENIED");
    expect(err?.exitCode).toBe(4);
    expect(err?.httpStatus).toBe(403);
    expect(err?.message).toMatch(/bind mount '\.\/state' resolves outside/);
    expect(err?.message).toMatch(/env_file: file 'conf\/app\.env' resolves outside/);
    expect(err?.message).not.toContain(tmp);
    expect(err?.details?.violations).toHaveLength(2);
  });

  it("a lone compose file is checked as the host will see it: without the .env beside it here", () => {
    write("lone/compose.yaml", web('volumes: ["${DATA:-/}:/d"]'));
    write("lone/.env", "DATA=./data\n");
    const profile = { id: "profile.t", settings: {} };
    // As a repo (the .env is copied too) the bind is ./data; as a lone file the host has no .env, so it is /.
    expect(() => enforceComposePolicy(join(tmp, "lone"), "compose.yaml", profile)).not.toThrow();
    expect(() => enforceComposePolicy(join(tmp, "lone"), "compose.yaml", profile, { single: true })).toThrow(/bind mount '\/' is an absolute path on the host/);
  });

  it("a profile's composePolicy.allow is checked when the catalog loads", async () => {
    const dir = join(tmp, "profiles");
    mkdirSync(dir, { recursive: true });
    const profile = (id: string, settings: string) =>
      writeFileSync(join(dir, `${id}.yaml`), `id: ${id}\nversion: 1\nextension: ext.compose-ssh\nsettings: ${settings}\ninputs:\n  repo: { type: path }\n`);
    profile("profile.relaxed", "{ composePolicy: { allow: [privileged, bind_mounts] } }");
    profile("profile.typo", "{ composePolicy: { allow: [privileged, priviledged] } }");
    profile("profile.shape", "{ composePolicy: [privileged] }");
    const cat = await loadCatalog(resolvePaths({ HOME: tmp, SANDBOXER_PROFILES_DIR: dir }));
    expect(cat.profiles.has("profile.relaxed")).toBe(true);
    expect(cat.profiles.has("profile.typo")).toBe(false);
    expect(cat.errors).toContainEqual(
      expect.objectContaining({ field: "settings.composePolicy.allow.1", message: expect.stringMatching(/unknown compose policy rule 'priviledged'/) }),
    );
    expect(cat.errors).toContainEqual(expect.objectContaining({ field: "settings.composePolicy", message: expect.stringMatching(/must be a map/) }));
  });

  it("through the HTTP API: 403 SBX_POLICY_DENIED, and no record", async () => {
    const profiles = join(tmp, "api-profiles");
    mkdirSync(profiles, { recursive: true });
    writeFileSync(
      join(profiles, "profile.compose-api.yaml"),
      "id: profile.compose-api\nversion: 1\nextension: ext.compose-ssh\nplacement: { hosts: [far] }\ninputs:\n  repo: { type: path }\n",
    );
    writeFileSync(
      join(tmp, "api-config.yaml"),
      "hosts:\n  far: { ssh: { host: 127.0.0.1, port: 9 }, compose: podman-compose, workspaceRoot: /nonexistent/sbx }\n",
    );
    write("api-repo/compose.yaml", web("privileged: true"));
    const home = makeHome({ SANDBOXER_PROFILES_DIR: profiles, SANDBOXER_CONFIG: join(tmp, "api-config.yaml") });
    const broker = home.broker();
    const api = createApp(broker, { accessLog: () => {} });
    try {
      const { token } = await broker.createToken({ actor: "adm" });
      const headers = { Authorization: `Bearer ${token}`, "Content-Type": "application/json" };
      const r = await api.app.request("/v1/sandboxes", {
        method: "POST",
        headers,
        body: JSON.stringify({ profile: "profile.compose-api", inputs: { repo: join(tmp, "api-repo") } }),
      });
      expect(r.status).toBe(403);
      const body = (await r.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("SBX_POLICY_DENIED");
      expect(body.error.message).toBe("compose policy: service 'web': privileged: true is not allowed (profile.compose-api allows: none)");
      const list = await api.app.request("/v1/sandboxes?all=true", { headers });
      expect(((await list.json()) as { items: unknown[] }).items).toEqual([]);
    } finally {
      await api.shutdown();
      await home.cleanup();
    }
  });
});
