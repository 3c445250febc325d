/**
 * ext.kubernetes through the real CLI (the built bin/sandboxer, one process per
 * command, as an operator runs it), with a kubeconfig pointing at the local
 * Kubernetes API fake: create / exec / destroy, the inventory's cluster host,
 * and stale detection (`inspect stale`, `reap-stale --apply`) on the cluster.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Sandbox } from "../src/types.js";
import { runCli } from "./helpers/cli.js";
import { type K8sEnv, startK8sEnv } from "./helpers/k8s-env.js";

describe("sandboxer CLI on a Kubernetes cluster (agent-sandbox)", () => {
  let env: K8sEnv;
  const cli = (...args: string[]) => runCli(args, env.home.env, { timeoutMs: 90_000 });

  beforeAll(async () => {
    env = await startK8sEnv();
  });
  afterAll(async () => {
    await env?.cleanup();
  });

  it("hosts list shows the cluster with its label; create -> exec -> destroy", async () => {
    const hosts = (await cli("hosts", "list", "--json")).json<{ name: string; labels: string[]; cluster?: unknown }[]>();
    expect(hosts.find((h) => h.name === "kind")).toMatchObject({ labels: ["kubernetes"], cluster: { namespace: "sandboxes" } });
    expect((await cli("hosts", "list")).stdout).toMatch(/kind\s+\(cluster current context\)/);

    const created = await cli("create", "--profile", "profile.k8s-agent", "--ttl", "20m", "--json");
    expect(created.code, created.stderr).toBe(0);
    const sb = created.json<Sandbox>();
    expect(sb).toMatchObject({ state: "ready", extension: "ext.kubernetes", host: "kind", reachability: { kind: "kubernetes", pod: sb.id } });
    expect(env.fake.store.get("sandboxes", "sandboxes", sb.id)?.metadata.labels?.["sandboxer.id"]).toBe(sb.id);

    const passthrough = await cli("exec", sb.id, "--", "sh", "-c", 'echo "out $1"; echo err >&2; exit 4', "sh", "a b");
    expect([passthrough.code, passthrough.stdout, passthrough.stderr]).toEqual([4, "out a b\n", "err\n"]);
    const captured = await cli("exec", sb.id, "--json", "--", "printf", "%s", "x y");
    expect(captured.json()).toMatchObject({ exitCode: 0, stdout: "x y", stderr: "" });

    const destroyed = await cli("destroy", sb.id, "--json");
    expect(destroyed.json<Sandbox>()).toMatchObject({ state: "destroyed", reason: "user" });
    expect(env.fake.store.get("sandboxes", "sandboxes", sb.id)).toBeUndefined();
  });

  it("inspect host and inspect stale see the cluster's objects; reap-stale --apply removes one nobody has a record of", async () => {
    const live = (await cli("create", "--profile", "profile.k8s-agent", "--json")).json<Sandbox>();
    // Left behind by a sand-boxer whose store was lost: labelled with an id no record has.
    const lost = "sbx-lostlostlost";
    env.fake.store.create("sandboxes", {
      apiVersion: "agents.x-k8s.io/v1beta1",
      kind: "Sandbox",
      metadata: { name: lost, namespace: "sandboxes", labels: { "sandboxer.id": lost } },
      spec: { podTemplate: { spec: { containers: [{ name: "agent", image: "busybox" }] } } },
    });
    const host = (await cli("inspect", "host", "kind", "--json")).json<{
      reachable: boolean;
      facts: unknown;
      sandboxes: { byRecord: string[]; byLabel: string[] };
    }>();
    expect(host).toMatchObject({ reachable: true, facts: { cluster: { namespace: "sandboxes" } } });
    expect(host?.sandboxes.byRecord).toEqual([live.id]);
    expect(host?.sandboxes.byLabel).toEqual(expect.arrayContaining([live.id, lost]));

    const stale = (await cli("inspect", "stale", "--json")).json<{
      orphans: { host: string; extension: string; sandboxId: string; record: string | null }[];
      ghosts: unknown[];
    }>();
    expect(stale.orphans).toEqual([expect.objectContaining({ host: "kind", extension: "ext.kubernetes", sandboxId: lost, record: null })]);
    expect(stale.ghosts).toEqual([]);

    const reaped = await cli("reap-stale", "--apply", "--json");
    expect(reaped.json()).toMatchObject({ applied: true, removed: [{ host: "kind", sandboxId: lost, extension: "ext.kubernetes" }], errors: [] });
    expect(env.fake.store.get("sandboxes", "sandboxes", lost)).toBeUndefined();
    expect(env.fake.store.get("sandboxes", "sandboxes", live.id)).toBeDefined();

    // A record whose object was deleted behind our back is a ghost; reap-stale closes it.
    env.fake.store.remove("sandboxes", "sandboxes", live.id);
    const ghosts = (await cli("inspect", "stale", "--json")).json<{ ghosts: { id: string }[] }>();
    expect(ghosts.ghosts.map((g) => g.id)).toEqual([live.id]);
    await cli("reap-stale", "--apply", "--json");
    expect((await cli("get", live.id, "--json")).json<Sandbox>()).toMatchObject({ state: "destroyed", reason: "reap" });
  });

  it.each(["k8s-created", "before-ready"])("kill -9 at %s: the next command's reconcile deletes the object and fails the record", async (point) => {
    const r = await runCli(["create", "--profile", "profile.k8s-agent", "--json"], { ...env.home.env, SANDBOXER_CRASH_AT: point }, { timeoutMs: 90_000 });
    expect(r.code).toBe(137);
    const orphan = env.fake.store.list("sandboxes", "sandboxes", { labels: [], fields: [] }).filter((o) => !o.metadata.deletionTimestamp);
    const ids = orphan.map((o) => o.metadata.labels?.["sandboxer.id"]);
    const rec = (await cli("list", "--all", "--json")).json<Sandbox[]>().find((x) => ids.includes(x.id));
    expect(rec?.state).toBe("provisioning");
    const report = (await cli("reconcile", "--json")).json<{ actions: { id: string; to: string }[] }>();
    expect(report.actions).toContainEqual(expect.objectContaining({ id: rec?.id, to: "failed" }));
    expect(env.fake.store.get("sandboxes", "sandboxes", rec?.id ?? "")).toBeUndefined();
  });

  it("a cluster that does not answer: create fails with SBX_HOST_UNREACHABLE (exit 1), inspect stale says unreachable", async () => {
    env.fake.kubeconfig(env.kubeconfig, { namespace: "default", extra: [{ context: "gone", server: "https://127.0.0.1:9" }] });
    env.config("hosts:\n  kind: { cluster: { namespace: sandboxes } }\n  down: { cluster: { context: gone } }\n");
    const r = await cli("create", "--profile", "profile.k8s-agent", "--host", "down", "--json");
    expect(r.code, r.stderr).toBe(1);
    expect(JSON.parse(r.stderr).error).toMatchObject({ code: "SBX_HOST_UNREACHABLE", message: expect.stringContaining("cluster 'down'") });
    const stale = (await cli("inspect", "stale", "--host", "down", "--json")).json<{ hosts: { name: string; reachable: boolean }[] }>();
    expect(stale.hosts).toEqual([expect.objectContaining({ name: "down", reachable: false })]);
  });
});
