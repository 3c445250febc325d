/**
 * The Kubernetes API fake answers as the API server does, checked with the
 * raw @kubernetes/client-node (so the extension's tests rest on a faithful
 * contract), and the extension's pure decisions, table-driven.
 */
import { join } from "node:path";
import { PassThrough } from "node:stream";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exitCodeOf } from "../src/extensions/kubernetes/exec.js";
import { readiness } from "../src/extensions/kubernetes/ready.js";
import { namespaceFor } from "../src/extensions/kubernetes/target.js";
import { type K8sFake, startK8sFake } from "./fakes/k8s/server.js";
import { makeHome, type TestHome } from "./helpers/home.js";

const SB = { group: "agents.x-k8s.io", version: "v1beta1", namespace: "sandboxes", plural: "sandboxes" };
const sandbox = (name: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: "agents.x-k8s.io/v1beta1",
  kind: "Sandbox",
  metadata: { name, labels: { "sandboxer.id": name } },
  spec: { podTemplate: { spec: { containers: [{ name: "c", image: "busybox" }] } }, ...extra },
});
const statusOf = (e: unknown) => ({ code: (e as { code: number }).code, body: JSON.parse((e as { body: string }).body) });

async function execIn(kc: k8s.KubeConfig, pod: string, argv: string[]) {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = "";
  let stderr = "";
  out.on("data", (d) => (stdout += d));
  err.on("data", (d) => (stderr += d));
  let protocol = "";
  const status = await new Promise<k8s.V1Status>((resolve, reject) => {
    new k8s.Exec(kc).exec("sandboxes", pod, "", argv, out, err, null, false, resolve).then((ws) => (protocol = ws.protocol), reject);
  });
  return { status, stdout, stderr, protocol };
}

describe.each<[string, { tls: boolean; execProtocols?: string[] }]>([
  ["TLS, exec v5", { tls: true }],
  ["plain HTTP, exec v4 only", { tls: false, execProtocols: ["v4.channel.k8s.io"] }],
])("the Kubernetes API fake (%s)", (_name, opts) => {
  let fake: K8sFake;
  let home: TestHome;
  let kc: k8s.KubeConfig;
  let api: k8s.CustomObjectsApi;
  beforeAll(async () => {
    fake = await startK8sFake(opts);
    home = makeHome();
    kc = new k8s.KubeConfig();
    kc.loadFromFile(fake.kubeconfig(join(home.dir, "kc"), { namespace: "sandboxes" }));
    api = kc.makeApiClient(k8s.CustomObjectsApi);
  });
  afterAll(async () => {
    await fake?.close();
    await home?.cleanup();
  });

  it("validates like the API server: strict unknown fields (400), types and names (422), conflicts (409), 404 on delete", async () => {
    const unknown = await api
      .createNamespacedCustomObject({ ...SB, body: sandbox("a", { shutdownPolicyy: "Delete" }), fieldValidation: "Strict" })
      .catch(statusOf);
    expect(unknown).toMatchObject({
      code: 400,
      body: { kind: "Status", reason: "BadRequest", message: 'strict decoding error: unknown field "spec.shutdownPolicyy"' },
    });
    const bad = await api.createNamespacedCustomObject({ ...SB, body: { ...sandbox("Bad_Name"), spec: { shutdownPolicy: "Never" } } }).catch(statusOf);
    expect(bad.code).toBe(422);
    expect(bad.body.details.causes.map((c: { field: string }) => c.field).sort()).toEqual(["metadata.name", "spec.podTemplate", "spec.shutdownPolicy"]);
    // Warn (the default): stored without the unknown field.
    const pruned = (await api.createNamespacedCustomObject({ ...SB, body: sandbox("a", { extra: 1 }) })) as { spec: Record<string, unknown> };
    expect(pruned.spec.extra).toBeUndefined();
    expect(await api.createNamespacedCustomObject({ ...SB, body: sandbox("a") }).catch(statusOf)).toMatchObject({
      code: 409,
      body: { reason: "AlreadyExists" },
    });
    await api.deleteNamespacedCustomObject({ ...SB, name: "a" });
    expect(await api.deleteNamespacedCustomObject({ ...SB, name: "a" }).catch(statusOf)).toMatchObject({
      code: 404,
      body: { reason: "NotFound", message: 'sandboxes.agents.x-k8s.io "a" not found' },
    });
  });

  it("lists by label, watches from a resourceVersion, and answers 410 Expired once the history is compacted", async () => {
    await api.createNamespacedCustomObject({ ...SB, body: sandbox("w1") });
    const list = (await api.listNamespacedCustomObject({ ...SB, labelSelector: "sandboxer.id in (w1,w2)" })) as {
      metadata: { resourceVersion: string };
      items: unknown[];
    };
    expect(list.items).toHaveLength(1);
    const events: string[] = [];
    const errors: number[] = [];
    const watch = (rv: string) =>
      new k8s.Watch(kc).watch(
        "/apis/agents.x-k8s.io/v1beta1/namespaces/sandboxes/sandboxes",
        { resourceVersion: rv },
        (type, obj) => {
          if (type === "ERROR") errors.push(obj.code);
          else events.push(`${type} ${obj.metadata.name}`);
        },
        () => {},
      );
    const ctl = await watch(list.metadata.resourceVersion);
    await api.createNamespacedCustomObject({ ...SB, body: sandbox("w2") });
    await api.deleteNamespacedCustomObject({ ...SB, name: "w2" });
    // Bounded so a lost event fails with what did arrive instead of hanging the file.
    const until = async (pred: () => boolean) => {
      for (let i = 0; !pred(); i++) {
        if (i > 3000) throw new Error(`watch events so far: ${JSON.stringify({ events, errors })}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    await until(() => events.includes("DELETED w2"));
    // w1's status updates by the controller come too; w2 comes and goes.
    expect(events.filter((e) => e.endsWith("w2"))).toEqual(["ADDED w2", "MODIFIED w2", "DELETED w2"].filter((e) => events.includes(e)));
    ctl.abort();
    fake.store.compact();
    await watch(list.metadata.resourceVersion);
    await until(() => errors.length > 0);
    expect(errors).toEqual([410]);
  });

  it("runs a real process per pod; exec speaks the channel protocol with the exit code in the Status; RBAC refusals are Status objects", async () => {
    await api.createNamespacedCustomObject({ ...SB, body: sandbox("e1") });
    while (!fake.controller.pods.dirOf("sandboxes", "e1")) await new Promise((r) => setTimeout(r, 10));
    const r = await execIn(kc, "e1", ["sh", "-c", "echo out; echo err >&2; exit 5"]);
    expect(r).toMatchObject({
      stdout: "out\n",
      stderr: "err\n",
      status: { status: "Failure", reason: "NonZeroExitCode", details: { causes: [{ reason: "ExitCode", message: "5" }] } },
    });
    expect(r.protocol).toBe(opts.execProtocols?.[0] ?? "v5.channel.k8s.io");
    expect((await execIn(kc, "e1", ["true"])).status).toMatchObject({ status: "Success" });
    const undo = fake.forbid("delete", "sandboxes");
    const denied = await api.deleteNamespacedCustomObject({ ...SB, name: "e1" }).catch(statusOf);
    undo();
    expect(denied).toMatchObject({
      code: 403,
      body: {
        reason: "Forbidden",
        message: expect.stringContaining('cannot delete resource "sandboxes" in API group "agents.x-k8s.io" in the namespace "sandboxes"'),
      },
    });
    const wrongToken = new k8s.KubeConfig();
    wrongToken.loadFromString(kc.exportConfig().replace(fake.token, "nope"));
    // client-node keeps only the code of a 401 on get.
    expect(
      await wrongToken
        .makeApiClient(k8s.CustomObjectsApi)
        .getNamespacedCustomObject({ ...SB, name: "e1" })
        .catch((e: { code: number }) => e.code),
    ).toBe(401);
    // Foreground deletion: the object lingers (deletionTimestamp) until its pod is gone.
    const marked = (await api.deleteNamespacedCustomObject({ ...SB, name: "e1", propagationPolicy: "Foreground" })) as {
      metadata: { deletionTimestamp?: string };
    };
    expect(marked.metadata.deletionTimestamp).toBeDefined();
    while (fake.store.get("sandboxes", "sandboxes", "e1")) await new Promise((r) => setTimeout(r, 10));
    expect(fake.store.get("pods", "sandboxes", "e1")).toBeUndefined();
    expect(fake.controller.pods.dirOf("sandboxes", "e1")).toBeUndefined();
  });
});

describe("ext.kubernetes decisions", () => {
  const cond = (status: string, reason: string, type = "Ready") => ({ status: { conditions: [{ type, status, reason, message: "m" }] } });
  it.each([
    [cond("True", "DependenciesReady"), "ready"],
    [cond("False", "DependenciesNotReady"), "pending"],
    [cond("False", "SandboxNotReady"), "pending"],
    [{}, "pending"],
    [cond("False", "ReconcilerError"), "failed"],
    [cond("False", "ClaimExpired"), "failed"],
    [cond("False", "SandboxExpired"), "failed"],
    [cond("False", "WarmPoolNotFound"), "failed"],
    [cond("True", "PodFailed", "Finished"), "failed"],
    [{ metadata: { deletionTimestamp: "2026-01-01T00:00:00Z" }, ...cond("True", "DependenciesReady") }, "failed"],
  ])("readiness(%j) is %s", (o, state) => {
    expect(readiness(o).state).toBe(state);
  });

  it.each([
    [{ status: "Success" }, 0],
    [{ status: "Failure", reason: "NonZeroExitCode", details: { causes: [{ reason: "ExitCode", message: "42" }] } }, 42],
    [
      { status: "Failure", reason: "InternalError", message: 'exec: "x": executable file not found in $PATH' },
      { error: 'exec: "x": executable file not found in $PATH' },
    ],
    [{ status: "Failure", reason: "NonZeroExitCode", details: { causes: [{ reason: "ExitCode", message: "x" }] }, message: "odd" }, { error: "odd" }],
  ])("exitCodeOf(%j) = %j", (s, want) => {
    expect(exitCodeOf(s)).toEqual(want);
  });

  const host = (cluster: object) => ({ name: "c", labels: [], cluster });
  it.each([
    [{ namespace: "shared" }, "team-a", "shared"],
    [{ namespaces: { "team-a": "ns-a" } }, "team-a", "ns-a"],
    [{ namespace: "shared", namespaces: { "team-a": "ns-a" } }, "team-b", "shared"],
    [{}, null, "ctx-ns"],
    [{ namespaces: { "team-a": "ns-a" } }, "team-b", "SBX_FORBIDDEN"],
    [{ namespaces: { "team-a": "ns-a" } }, null, "SBX_FORBIDDEN"],
  ])("namespaceFor(%j, %s) = %s", (cluster, project, want) => {
    const got = (() => {
      try {
        return namespaceFor(host(cluster), project, "ctx-ns");
      } catch (e) {
        return (e as { code: string }).code;
      }
    })();
    expect(got).toBe(want);
  });
});
