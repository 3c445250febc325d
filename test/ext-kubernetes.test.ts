/**
 * ext.kubernetes: the real @kubernetes/client-node against a local server
 * speaking the Kubernetes REST, watch and pods/exec contract for
 * agent-sandbox's v1beta1 kinds (test/fakes/k8s/), whose controller starts a
 * real process per pod.
 */
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SandboxerError } from "../src/errors.js";
import { loadExtension } from "../src/extensions/index.js";
import { testExtension } from "./extension-contract.js";
import { contextFor } from "../src/broker/internal.js";
import { type K8sEnv, startK8sEnv, until } from "./helpers/k8s-env.js";

const AGENT = { profile: "profile.k8s-agent" };
const PIPE = { stdin: "ignore", stdout: "pipe", stderr: "pipe" } as const;

let contract: K8sEnv;
testExtension({
  name: "ext.kubernetes",
  make: async () => {
    contract = await startK8sEnv();
    return { home: contract.home, request: AGENT, cleanup: () => contract.fake.close() };
  },
});

describe("ext.kubernetes on the Kubernetes API contract", () => {
  let env: K8sEnv;
  beforeAll(async () => {
    env = await startK8sEnv();
  });
  afterAll(async () => {
    await env?.cleanup();
  });

  it("create = one create and one watch; the Sandbox carries our id, the pod template, the TTL as shutdownTime", async () => {
    const broker = env.home.broker();
    // The first create loads the SDK and reconciles; count requests from the second.
    await broker.destroy((await broker.create(AGENT)).id);
    const mark = env.fake.mark();
    const sb = await broker.create({ ...AGENT, inputs: { image: "registry.example:5000/agents/py:3.12" }, ttl: "30m" });
    const reqs = env.fake.since(mark);
    expect(reqs.map((r) => `${r.verb} ${r.resource} ${r.namespace}`)).toEqual(["create sandboxes sandboxes", "watch sandboxes sandboxes"]);
    expect(reqs[0]?.query.get("fieldValidation")).toBe("Strict");
    expect(reqs[1]?.query.get("fieldSelector")).toBe(`metadata.name=${sb.id}`);
    const obj = env.fake.store.get("sandboxes", "sandboxes", sb.id);
    expect(obj?.metadata.labels).toMatchObject({ "sandboxer.id": sb.id, "app.kubernetes.io/managed-by": "sandboxer" });
    expect(obj?.spec.podTemplate.metadata.labels).toMatchObject({ "sandboxer.id": sb.id, "app.kubernetes.io/name": "sandboxer-agent" });
    expect(obj?.spec.podTemplate.spec.containers[0].image).toBe("registry.example:5000/agents/py:3.12");
    expect(obj?.spec.shutdownPolicy).toBe("Delete");
    expect(Date.parse(obj?.spec.shutdownTime)).toBe(Math.floor(Date.parse(sb.expiresAt ?? "") / 1000) * 1000);
    expect(sb.host).toBe("kind");
    expect(sb.reachability).toMatchObject({
      kind: "kubernetes",
      cluster: "kind",
      namespace: "sandboxes",
      object: `Sandbox/${sb.id}`,
      pod: sb.id,
      podIPs: ["127.0.0.1"],
    });

    const extended = await broker.extendTtl(sb.id, "2h");
    expect(Date.parse(env.fake.store.get("sandboxes", "sandboxes", sb.id)?.spec.shutdownTime)).toBe(
      Math.floor(Date.parse(extended.expiresAt ?? "") / 1000) * 1000,
    );
    await broker.destroy(sb.id);
    expect(env.fake.store.get("sandboxes", "sandboxes", sb.id)).toBeUndefined();
    await until(() => !env.fake.store.get("pods", "sandboxes", sb.id), "the pod to be collected");
  });

  it("a dropped watch resumes from the last resourceVersion it saw (no list, no second create)", async () => {
    const broker = env.home.broker();
    env.fake.controller.hold();
    const mark = env.fake.mark();
    const creating = broker.create(AGENT);
    const first = await env.fake.waitForWatch((w) => w.resource === "sandboxes");
    const name = first.query.get("fieldSelector")?.split("=")[1] as string;
    // The controller reports progress (an event the watch sees).
    const cur = env.fake.store.get("sandboxes", "sandboxes", name);
    if (!cur) throw new Error("no sandbox");
    const pending = env.fake.store.update("sandboxes", {
      ...cur,
      status: {
        conditions: [{ type: "Ready", status: "False", reason: "DependenciesNotReady", message: "Pod is pending", lastTransitionTime: "2026-01-01T00:00:00Z" }],
      },
    });
    // Once the watch has seen it (the extension reports it as progress), the connection drops.
    await until(
      async () => (await broker.events({ sandboxId: name })).some((e) => /DependenciesNotReady/.test(String(e.data.message))),
      "the watch to see the event",
    );
    env.fake.interruptWatches();
    const second = await env.fake.waitForWatch((w) => w !== first && w.resource === "sandboxes");
    expect(second.query.get("resourceVersion")).toBe(pending.metadata.resourceVersion);
    env.fake.controller.release();
    const sb = await creating;
    expect(sb.state).toBe("ready");
    expect(env.fake.since(mark).map((r) => r.verb)).toEqual(["create", "watch", "watch"]);
    await broker.destroy(sb.id);
  });

  it("410 Gone during the watch: a fresh list of the object, then a watch from the list's resourceVersion", async () => {
    const broker = env.home.broker();
    env.fake.controller.hold();
    const mark = env.fake.mark();
    const creating = broker.create(AGENT);
    await env.fake.waitForWatch((w) => w.resource === "sandboxes");
    env.fake.expireWatches();
    await env.fake.waitForWatch((w) => w.resource === "sandboxes" && w.query.get("resourceVersion") === env.fake.store.resourceVersion);
    env.fake.controller.release();
    const sb = await creating;
    expect(sb.state).toBe("ready");
    const reqs = env.fake.since(mark);
    expect(reqs.map((r) => r.verb)).toEqual(["create", "watch", "list", "watch"]);
    expect(reqs[2]?.query.get("fieldSelector")).toBe(`metadata.name=${sb.id}`);
    expect((await broker.events({ sandboxId: sb.id })).some((e) => /410 Gone/.test(String(e.data.message)))).toBe(true);
    await broker.destroy(sb.id);
  });

  it("never ready within the profile timeout: SBX_READY_TIMEOUT, the watch is closed and the object deleted", async () => {
    env.profile(
      "profile.k8s-quick",
      "id: profile.k8s-quick\nversion: 1\nextension: ext.kubernetes\ntimeout: 2s\nplacement: { hosts: ['*'], labels: [kubernetes] }\nsettings:\n  podTemplate:\n    spec:\n      containers: [{ name: agent, image: busybox }]\n",
    );
    env.fake.controller.hold();
    try {
      const err = (await env.home
        .broker()
        .create({ profile: "profile.k8s-quick" })
        .catch((e: unknown) => e)) as SandboxerError;
      expect(err.code).toBe("SBX_READY_TIMEOUT");
      expect(env.fake.store.get("sandboxes", "sandboxes", err.details?.id as string)).toBeUndefined();
      await until(() => env.fake.openWatches().length === 0, "the watch to close");
    } finally {
      env.fake.controller.release();
    }
  });

  it.each([
    ["ReconcilerError", "failed to create pod: admission webhook denied the request"],
    ["SandboxExpired", "Sandbox has expired"],
  ])("the controller reports %s: the create fails at once with its reason, the object is deleted", async (reason, message) => {
    const broker = env.home.broker();
    env.fake.failNext("sandboxes", reason, message);
    const err = (await broker.create(AGENT).catch((e: unknown) => e)) as SandboxerError;
    expect(err).toBeInstanceOf(SandboxerError);
    expect(err.code).toBe("SBX_PROVISION_FAILED");
    expect(err.message).toContain(`failed: ${reason}: ${message}`);
    const id = err.details?.id as string;
    expect(await broker.get(id)).toMatchObject({ state: "failed", reason: "failed-provision" });
    expect(env.fake.store.get("sandboxes", "sandboxes", id)).toBeUndefined();
  });

  it("RBAC 403 on create: a clear error naming the verb, resource and namespace, and the Role to grant", async () => {
    const broker = env.home.broker();
    const undo = env.fake.forbid("create", "sandboxes", "sandboxes");
    try {
      const err = (await broker.create(AGENT).catch((e: unknown) => e)) as SandboxerError;
      expect(err.code).toBe("SBX_FORBIDDEN");
      expect(err.message).toMatch(
        /cluster 'kind' refused to create sandboxes\.agents\.x-k8s\.io in namespace 'sandboxes' \(403 Forbidden: .*cannot create resource "sandboxes"/,
      );
      expect(err.message).toContain('docs/kubernetes.md ("RBAC")');
      expect((await broker.get(err.details?.id as string)).state).toBe("failed");
      expect(env.fake.store.list("sandboxes", "sandboxes", { labels: [], fields: [] }).filter((o) => o.metadata.name === err.details?.id)).toEqual([]);
    } finally {
      undo();
    }
  });

  it("RBAC 403 on watch: the created object is torn down", async () => {
    const broker = env.home.broker();
    const undo = env.fake.forbid("watch", "sandboxes");
    try {
      const err = (await broker.create(AGENT).catch((e: unknown) => e)) as SandboxerError;
      expect(err.code).toBe("SBX_FORBIDDEN");
      expect(err.message).toMatch(/refused to watch sandboxes\.agents\.x-k8s\.io in namespace 'sandboxes'/);
      expect(env.fake.store.get("sandboxes", "sandboxes", err.details?.id as string)).toBeUndefined();
    } finally {
      undo();
    }
  });

  it("teardown of an object someone already deleted is done (404), and reconcile closes a record whose object vanished", async () => {
    const broker = env.home.broker();
    const a = await broker.create(AGENT);
    env.fake.store.remove("sandboxes", "sandboxes", a.id);
    expect(await broker.destroy(a.id)).toMatchObject({ state: "destroyed", reason: "user" });
    const b = await broker.create(AGENT);
    env.fake.store.remove("sandboxes", "sandboxes", b.id);
    const report = await broker.reconcile({ deep: true });
    expect(report.actions).toContainEqual(expect.objectContaining({ id: b.id, to: "destroyed", why: "resources vanished" }));
    expect(await broker.get(b.id)).toMatchObject({ state: "destroyed", reason: "reap" });
  });

  it("exec: argv intact in the pod's directory, exit codes, a missing command is a clear error; a pod killed behind our back is not alive", async () => {
    const broker = env.home.broker();
    const sb = await broker.create(AGENT);
    const r = await broker.exec(sb.id, ["sh", "-c", 'printf %s "$1" > f.txt; cat f.txt; pwd >&2; exit 7', "sh", "a b'c\"$d"], PIPE);
    expect(r.exitCode).toBe(7);
    expect(r.stdout).toBe("a b'c\"$d");
    expect(r.stderr).toMatch(new RegExp(`/sandboxes/${sb.id}\\n$`));
    await expect(broker.exec(sb.id, ["no-such-command-xyz"], PIPE)).rejects.toMatchObject({
      code: "SBX_EXEC_FAILED",
      message: expect.stringMatching(/executable file not found/),
    });
    const { extension, row, ctx } = await contextFor(broker, sb.id);
    expect(await extension.alive?.(ctx, row.handle ?? {})).toBe(true);
    env.fake.controller.pods.kill("sandboxes", sb.id);
    await until(
      () => env.fake.store.get("sandboxes", "sandboxes", sb.id)?.status?.conditions?.some((c: { reason: string }) => c.reason === "PodFailed") === true,
      "the pod to fail",
    );
    expect(await extension.alive?.(ctx, row.handle ?? {})).toBe(false);
    await broker.destroy(sb.id);
  });

  it("exec streams: output arrives while the command runs, and stdin reaches it (closed after the given bytes)", async () => {
    const broker = env.home.broker();
    const sb = await broker.create(AGENT);
    try {
      // The command says it is ready, then waits for a line: only output handed on as it comes lets
      // the test answer, and only a stdin that reaches the command (then closes) lets it end.
      const stdin = new PassThrough();
      const chunks: string[] = [];
      const r = await broker.exec(sb.id, ["sh", "-c", 'echo ready; read line; echo "got-$line"; echo oops >&2; cat'], PIPE, {
        stdin,
        onOutput: (which, c) => {
          chunks.push(`${which}:${c}`);
          if (which === "stdout" && String(c).includes("ready")) stdin.end("go\nrest\n");
        },
      });
      expect(r).toMatchObject({ exitCode: 0, stdout: "ready\ngot-go\nrest\n", stderr: "oops\n" });
      expect(chunks.join("")).toContain("stdout:ready");
      expect(chunks.some((c) => c.startsWith("stderr:oops"))).toBe(true);
      // Bytes (the API's body) too, as a whole.
      const whole = await broker.exec(sb.id, ["sh", "-c", "tr a-z A-Z"], PIPE, { stdin: Buffer.from("shout\n") });
      expect(whole).toMatchObject({ exitCode: 0, stdout: "SHOUT\n" });
    } finally {
      await broker.destroy(sb.id);
    }
  });

  it("RBAC 403 on pods/exec names the subresource", async () => {
    const broker = env.home.broker();
    const sb = await broker.create(AGENT);
    const undo = env.fake.forbid("create", "pods/exec");
    try {
      await expect(broker.exec(sb.id, ["true"], PIPE)).rejects.toMatchObject({
        code: "SBX_FORBIDDEN",
        message: expect.stringMatching(/refused to create pods\/exec in namespace 'sandboxes' \(403 Forbidden/),
      });
    } finally {
      undo();
      await broker.destroy(sb.id);
    }
  });

  it("an unknown field in the profile's pod template is refused by strict validation, naming the field; nothing is left", async () => {
    env.profile(
      "profile.k8s-typo",
      "id: profile.k8s-typo\nversion: 1\nextension: ext.kubernetes\nplacement: { hosts: ['*'], labels: [kubernetes] }\nsettings:\n  podTemplate:\n    spec:\n      containers:\n        - { name: agent, image: busybox, imagePullPolicyy: Always }\n",
    );
    const broker = env.home.broker();
    const err = (await broker.create({ profile: "profile.k8s-typo" }).catch((e: unknown) => e)) as SandboxerError;
    expect(err.code).toBe("SBX_PROVISION_FAILED");
    expect(err.message).toContain('strict decoding error: unknown field "spec.podTemplate.spec.containers[0].imagePullPolicyy"');
    expect(env.fake.store.get("sandboxes", "sandboxes", err.details?.id as string)).toBeUndefined();
  });

  it("inputs are checked before anything is made: an image that is not an image reference", async () => {
    const broker = env.home.broker();
    const mark = env.fake.mark();
    await expect(broker.create({ ...AGENT, inputs: { image: "x; rm -rf /" } })).rejects.toMatchObject({ code: "SBX_INPUT_INVALID" });
    expect(env.fake.since(mark)).toEqual([]);
    await expect(broker.create({ ...AGENT, host: "localhost" })).rejects.toMatchObject({ code: "SBX_HOST_NOT_FOUND" });
  });
});

describe("ext.kubernetes claims on warm pools", () => {
  let env: K8sEnv;
  beforeAll(async () => {
    env = await startK8sEnv();
  });
  afterAll(async () => {
    await env?.cleanup();
  });

  it("an empty pool: the claim cold-starts a Sandbox from the pool's template; exec reaches its pod", async () => {
    env.pool(0);
    const broker = env.home.broker();
    const sb = await broker.create({ profile: "profile.k8s-pool" });
    const claim = env.fake.store.get("sandboxclaims", "sandboxes", sb.id);
    expect(claim?.spec).toMatchObject({
      warmPoolRef: { name: "sandboxer-agents" },
      lifecycle: { shutdownPolicy: "Delete" },
      additionalPodMetadata: { labels: { "sandboxer.id": sb.id } },
    });
    const cold = env.fake.store.get("sandboxes", "sandboxes", sb.id);
    expect(cold?.metadata.labels?.["agents.x-k8s.io/launch-type"]).toBe("cold");
    expect(sb.reachability).toMatchObject({ object: `SandboxClaim/${sb.id}`, pod: sb.id });
    expect((await broker.exec(sb.id, ["echo", "cold"], PIPE)).stdout).toBe("cold\n");
    await broker.destroy(sb.id);
    expect(env.fake.store.get("sandboxclaims", "sandboxes", sb.id)).toBeUndefined();
    await until(() => !env.fake.store.get("sandboxes", "sandboxes", sb.id), "the claimed sandbox to be collected");
  });

  it("a warm pool: the claim adopts a ready member (exec runs in that pod), the pool refills", async () => {
    env.pool(1);
    const member = () =>
      env.fake.store.list("sandboxes", "sandboxes", {
        labels: [{ key: "agents.x-k8s.io/warm-pool-sandbox", op: "=", values: ["sandboxer-agents"] }],
        fields: [],
      });
    await until(
      () => member().some((s) => s.status?.conditions?.some((c: { type: string; status: string }) => c.type === "Ready" && c.status === "True")),
      "a ready pool member",
    );
    const warm = member()[0]?.metadata.name as string;
    const broker = env.home.broker();
    const sb = await broker.create({ profile: "profile.k8s-pool" });
    expect(sb.reachability).toMatchObject({ pod: warm });
    expect(env.fake.store.get("pods", "sandboxes", warm)?.metadata.labels?.["sandboxer.id"]).toBe(sb.id);
    expect((await broker.exec(sb.id, ["pwd"], PIPE)).stdout).toMatch(new RegExp(`/sandboxes/${warm}\\n$`));
    await until(() => member().some((s) => s.metadata.name !== warm), "the pool to refill");
    await broker.destroy(sb.id);
    await until(() => !env.fake.store.get("sandboxes", "sandboxes", warm), "the adopted sandbox to go with its claim");
    env.pool(0);
  });

  it.each([
    ["a pool that does not exist", "profile.k8s-nopool", "warmPool: nope", "WarmPoolNotFound", 'SandboxWarmPool "nope" not found'],
    ["a claim the controller expires", "profile.k8s-pool", "", "ClaimExpired", "Claim expired"],
  ])("%s: the create fails with the controller's reason", async (_what, profile, settings, reason, message) => {
    if (settings)
      env.profile(
        profile,
        `id: ${profile}\nversion: 1\nextension: ext.kubernetes\nplacement: { hosts: ['*'], labels: [kubernetes] }\nsettings: { ${settings} }\n`,
      );
    else env.fake.failNext("sandboxclaims", reason, message);
    const err = (await env.home
      .broker()
      .create({ profile })
      .catch((e: unknown) => e)) as SandboxerError;
    expect(err.code).toBe("SBX_PROVISION_FAILED");
    expect(err.message).toContain(`SandboxClaim sandboxes/${err.details?.id} on cluster 'kind' failed: ${reason}: ${message}`);
    expect(env.fake.store.get("sandboxclaims", "sandboxes", err.details?.id as string)).toBeUndefined();
  });
});

describe("ext.kubernetes: clusters in the inventory", () => {
  let env: K8sEnv;
  beforeAll(async () => {
    env = await startK8sEnv();
    env.fake.addNamespace("team-a");
  });
  afterAll(async () => {
    await env?.cleanup();
  });

  it("per-project namespaces: a project lands in its own; a project without one is refused before any record, and nothing reaches the cluster", async () => {
    env.config("hosts:\n  kind: { cluster: { namespaces: { team-a: team-a } } }\n");
    const broker = env.home.broker();
    const sb = await broker.create({ ...AGENT, project: "team-a" });
    expect(env.fake.store.get("sandboxes", "team-a", sb.id)).toBeDefined();
    const { extension, ctx } = await contextFor(broker, sb.id);
    expect((await extension.list?.(ctx))?.map((r) => r.ref)).toContain(`kind/team-a/${sb.id}`);
    await broker.destroy(sb.id);
    const mark = env.fake.mark();
    const err = (await broker.create({ ...AGENT, project: "team-b" }).catch((e: unknown) => e)) as SandboxerError;
    expect(err.code).toBe("SBX_FORBIDDEN");
    expect(err.message).toContain("cluster 'kind' has no namespace for project 'team-b'");
    expect(env.fake.since(mark)).toEqual([]);
    // Refused at plan time: no record either.
    expect(err.details?.id).toBeUndefined();
    expect(await broker.list({ project: "team-b" })).toEqual([]);
    env.config("hosts:\n  kind: { cluster: { namespace: sandboxes } }\n");
  });

  it("the kubeconfig context names the cluster; an API server that does not answer is SBX_HOST_UNREACHABLE", async () => {
    env.fake.kubeconfig(env.kubeconfig, { namespace: "default", extra: [{ context: "gone", server: "https://127.0.0.1:9" }] });
    env.config("hosts:\n  kind: { cluster: { namespace: sandboxes } }\n  down: { cluster: { context: gone, namespace: sandboxes } }\n");
    const broker = env.home.broker();
    const err = (await broker.create({ ...AGENT, host: "down" }).catch((e: unknown) => e)) as SandboxerError;
    expect(err.code).toBe("SBX_HOST_UNREACHABLE");
    expect(err.message).toMatch(/cluster 'down': the API server https:\/\/127\.0\.0\.1:9 is unreachable/);
    expect((await broker.get(err.details?.id as string)).state).toBe("failed");
    env.config("hosts:\n  kind: { cluster: { context: missing } }\n");
    await expect(env.home.broker().create(AGENT)).rejects.toMatchObject({
      code: "SBX_CONFIG_INVALID",
      message: expect.stringContaining("context 'missing' is not in the kubeconfig"),
    });
    env.config("hosts:\n  kind: { cluster: { namespace: sandboxes }, ssh: { host: example.org } }\n");
    await expect(env.home.broker().config()).rejects.toThrow(/either an SSH host or a cluster/);
    env.config("hosts:\n  kind: { cluster: { namespace: sandboxes } }\n");
  });

  it("is loaded lazily and declares what it implements", async () => {
    const ext = await loadExtension("ext.kubernetes");
    expect(ext.kind).toBe("self-hosted");
    expect(ext.capabilities).toMatchObject({ exec: true, execTimeout: true, execCancel: true, execStdin: true });
    expect(typeof ext.exec).toBe("function");
  });
});
