/**
 * Kubernetes benchmark (issue 15), against the local API fake
 * (test/fakes/k8s/: TLS on loopback, a controller that starts a real process
 * per pod after `delayMs`):
 *   API requests per create through the broker (counted by the fake)      target 2: one create, one watch
 *   create->ready through the broker vs the same create + watch-until-Ready
 *   written by hand with @kubernetes/client-node, as a ratio              target <= 1.2
 * Run at two controller delays: 20 ms (the fake at once: the broker's fixed
 * cost shows) and 500 ms (closer to a real controller + kubelet start).
 * The two sides alternate create by create, so drifting load favours neither.
 * Prints medians; asserts nothing.
 */
import { writeFileSync } from "node:fs";
import * as k8s from "@kubernetes/client-node";
import { startK8sEnv } from "../test/helpers/k8s-env.js";

const N = Number(process.env.BENCH_N ?? 15);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const round = (x: number) => Math.round(x * 10) / 10;

/** The hand-written baseline: create the same Sandbox, watch it from the create's resourceVersion until Ready=True. */
async function rawCreateReady(kc: k8s.KubeConfig, api: k8s.CustomObjectsApi, name: string, body: Record<string, unknown>): Promise<void> {
  const created = (await api.createNamespacedCustomObject({
    group: "agents.x-k8s.io",
    version: "v1beta1",
    namespace: "sandboxes",
    plural: "sandboxes",
    body: { ...body, metadata: { name, labels: { "sandboxer.id": name } } },
    fieldValidation: "Strict",
  })) as { metadata: { resourceVersion: string } };
  await new Promise<void>((resolve, reject) => {
    let ctl: AbortController | undefined;
    let done = false;
    new k8s.Watch(kc)
      .watch(
        "/apis/agents.x-k8s.io/v1beta1/namespaces/sandboxes/sandboxes",
        { fieldSelector: `metadata.name=${name}`, resourceVersion: created.metadata.resourceVersion },
        (_type, obj: { status?: { conditions?: { type: string; status: string }[] } }) => {
          if (obj.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")) {
            done = true;
            ctl?.abort();
            resolve();
          }
        },
        (err) => {
          if (!done) reject(err ?? new Error("watch ended"));
        },
      )
      .then((c) => {
        ctl = c;
        if (done) c.abort();
      }, reject);
  });
}

async function run(delayMs: number) {
  const env = await startK8sEnv({ fake: { delayMs } });
  try {
    const broker = env.home.broker();
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(env.kubeconfig);
    const api = kc.makeApiClient(k8s.CustomObjectsApi);
    // Warm both sides (SDK load, TLS session, catalog, SQLite statements).
    const warm = await broker.create({ profile: "profile.k8s-agent" });
    // The baseline sends the very spec the broker sent (pod template, shutdownTime, policy).
    const template = { apiVersion: "agents.x-k8s.io/v1beta1", kind: "Sandbox", spec: env.fake.store.get("sandboxes", "sandboxes", warm.id)?.spec };
    await broker.destroy(warm.id);
    await rawCreateReady(kc, api, "raw-warm", template);
    const ours: number[] = [];
    const raw: number[] = [];
    const requests: number[] = [];
    for (let i = 0; i < N; i++) {
      const mark = env.fake.mark();
      const t0 = performance.now();
      const sb = await broker.create({ profile: "profile.k8s-agent" });
      ours.push(performance.now() - t0);
      requests.push(env.fake.since(mark).length);
      await broker.destroy(sb.id);

      const t1 = performance.now();
      await rawCreateReady(kc, api, `raw-${i}`, template);
      raw.push(performance.now() - t1);
      await api.deleteNamespacedCustomObject({ group: "agents.x-k8s.io", version: "v1beta1", namespace: "sandboxes", plural: "sandboxes", name: `raw-${i}` });
    }
    const res = {
      delayMs,
      n: N,
      rawMs: round(median(raw)),
      oursMs: round(median(ours)),
      ratio: Math.round((median(ours) / median(raw)) * 100) / 100,
      requestsPerCreate: median(requests),
      requestsMax: Math.max(...requests),
    };
    console.log(
      `controller delay ${delayMs} ms: create->ready raw client-node ${res.rawMs} ms, ext.kubernetes ${res.oursMs} ms, ratio ${res.ratio}x (target <= 1.2); API requests per create: ${res.requestsPerCreate} (max ${res.requestsMax}; target 2)`,
    );
    return res;
  } finally {
    await env.cleanup();
  }
}

const results = [await run(20), await run(500)];
if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, JSON.stringify(results, null, 2));
