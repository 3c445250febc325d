/**
 * A local server speaking the Kubernetes REST contract for agent-sandbox's
 * kinds (no kube-apiserver can be installed here), driven in tests by the
 * real @kubernetes/client-node:
 *   /apis/agents.x-k8s.io/v1beta1/namespaces/{ns}/sandboxes[/{name}]
 *   /apis/extensions.agents.x-k8s.io/v1beta1/namespaces/{ns}/{sandboxtemplates,sandboxclaims,sandboxwarmpools}[/{name}]
 *   /api/v1/namespaces/{ns}/pods[/{name}[/exec]]          (exec: WebSocket, channel protocol)
 *   and the all-namespaces lists /apis/{group}/{version}/{plural}
 * create, get, list and watch (labelSelector, fieldSelector, resourceVersion,
 * 410 Expired), update, patch, delete (404 when gone; propagation policies),
 * strict field validation against the v1beta1 field set, bearer-token
 * authentication, RBAC refusals on demand (403 Status), and a controller
 * that really starts a process per pod. Every request is counted.
 * Listens on 127.0.0.1, TLS with a throwaway certificate (or plain HTTP).
 */
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttps } from "node:https";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { FakeController, type FailResource } from "./controller.js";
import { type Answer, Crud } from "./crud.js";
import { ExecServer } from "./exec.js";
import { type KubeconfigOptions, selfSignedCert, writeKubeconfig } from "./kubeconfig.js";
import { failure, forbidden, notFound, type ResourceDef, resourceFor } from "./resources.js";
import { parseSelectors, SelectorError } from "./selectors.js";
import { ObjectStore } from "./store.js";
import { type OpenWatch, serveWatch } from "./watch.js";

export interface K8sRequest {
  method: string;
  verb: string;
  /** `sandboxes`, `pods/exec`, ... */
  resource: string;
  namespace: string | undefined;
  name: string | undefined;
  query: URLSearchParams;
}

export interface K8sFakeOptions {
  tls?: boolean;
  /** Namespaces that exist; creates elsewhere are 404. Default: default, sandboxes. */
  namespaces?: string[];
  /** Controller reconcile delay (ms); default 20. */
  delayMs?: number;
  /** Exec protocols the server speaks, preferred first; default v5 then v4. */
  execProtocols?: string[];
  /** The user RBAC names in refusals. */
  user?: string;
}

export interface K8sFake {
  url: string;
  token: string;
  ca: string | undefined;
  store: ObjectStore;
  controller: FakeController;
  requests: K8sRequest[];
  /** Every request from now on: `const n = fake.mark(); ...; fake.since(n)`. */
  mark(): number;
  since(mark: number): K8sRequest[];
  kubeconfig(path: string, o?: Omit<KubeconfigOptions, "server" | "token" | "ca">): string;
  /** Answer 403 Forbidden for this verb on this resource (`pods/exec` for exec), in one namespace or all. */
  forbid(verb: string, resource: string, namespace?: string): () => void;
  /** Resolves when a watch matching `pred` is open (now or later). */
  waitForWatch(pred?: (w: OpenWatch) => boolean): Promise<OpenWatch>;
  openWatches(): OpenWatch[];
  /** Cut every open watch connection. */
  interruptWatches(): void;
  /** Compact the history and answer 410 Expired on every open watch. */
  expireWatches(): void;
  failNext(resource: FailResource, reason: string, message: string): void;
  /** Admin writes (templates, warm pools) that skip RBAC and validation. */
  apply(resource: "sandboxtemplates" | "sandboxwarmpools", ns: string, name: string, spec: unknown): void;
  addNamespace(ns: string): void;
  close(): Promise<void>;
}

type Route = { def: ResourceDef; ns: string | undefined; name: string | undefined; sub: string | undefined } | undefined;

function route(pathname: string): Route {
  const p = pathname.split("/").filter(Boolean).map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (p[0] === "api" && p[1] === "v1") [group, version, rest] = ["", "v1", p.slice(2)];
  else if (p[0] === "apis" && p.length >= 4) [group, version, rest] = [p[1] as string, p[2] as string, p.slice(3)];
  else return undefined;
  let ns: string | undefined;
  if (rest[0] === "namespaces" && rest.length >= 3) {
    ns = rest[1];
    rest = rest.slice(2);
  }
  const def = resourceFor(group, version, rest[0] ?? "");
  if (!def || rest.length > 3) return undefined;
  return { def, ns, name: rest[1], sub: rest[2] };
}

function verbOf(method: string, r: NonNullable<Route>, query: URLSearchParams): string {
  if (r.sub === "exec") return "create";
  if (method === "GET") return r.name ? "get" : ["true", "1"].includes(query.get("watch") ?? "") ? "watch" : "list";
  return { POST: "create", PUT: "update", PATCH: "patch", DELETE: r.name ? "delete" : "deletecollection" }[method] ?? method.toLowerCase();
}

async function readBody(req: IncomingMessage): Promise<string> {
  let raw = "";
  for await (const chunk of req) raw += chunk;
  return raw;
}

function send(res: ServerResponse, a: Answer): void {
  res.writeHead(a.status, { "content-type": "application/json", ...(a.headers ?? {}) }).end(JSON.stringify(a.body));
}

/** Refuse a WebSocket upgrade with an HTTP answer on the raw socket. */
function refuseUpgrade(socket: Duplex, a: Answer): void {
  const body = JSON.stringify(a.body);
  socket.end(
    `HTTP/1.1 ${a.status} ${a.status === 403 ? "Forbidden" : a.status === 401 ? "Unauthorized" : "Error"}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

export async function startK8sFake(opts: K8sFakeOptions = {}): Promise<K8sFake> {
  const tls = opts.tls ?? true;
  const token = `fake-${randomBytes(16).toString("hex")}`;
  const user = opts.user ?? "system:serviceaccount:sandboxer:broker";
  const podRoot = mkdtempSync(join(tmpdir(), "k8s-fake-pods-"));
  const store = new ObjectStore();
  const controller = new FakeController(store, podRoot, opts.delayMs ?? 20);
  const namespaces = new Set(opts.namespaces ?? ["default", "sandboxes"]);
  const crud = new Crud(store, controller, namespaces);
  const exec = new ExecServer(opts.execProtocols ?? ["v5.channel.k8s.io", "v4.channel.k8s.io"]);
  const requests: K8sRequest[] = [];
  const rules: { verb: string; resource: string; namespace: string | undefined }[] = [];
  const open = new Set<OpenWatch>();
  const waiters: { pred: (w: OpenWatch) => boolean; resolve: (w: OpenWatch) => void }[] = [];
  const onOpen = (w: OpenWatch) => {
    for (const x of waiters.splice(0))
      if (x.pred(w)) x.resolve(w);
      else waiters.push(x);
  };

  /** Authentication, RBAC and the request log, shared by plain requests and upgrades. */
  const gate = (req: IncomingMessage, r: NonNullable<Route>, query: URLSearchParams): Answer | undefined => {
    const verb = verbOf(req.method ?? "GET", r, query);
    const resource = r.sub ? `${r.def.plural}/${r.sub}` : r.def.plural;
    requests.push({ method: req.method ?? "GET", verb, resource, namespace: r.ns, name: r.name, query });
    if (req.headers.authorization !== `Bearer ${token}`) return { status: 401, body: failure(401, "Unauthorized", "Unauthorized") };
    const denied = rules.some((x) => x.verb === verb && x.resource === resource && (x.namespace === undefined || x.namespace === r.ns));
    if (denied)
      return { status: 403, body: forbidden(user, verb, { plural: r.def.plural, group: r.def.group, ...(r.sub ? { sub: r.sub } : {}) }, r.ns, r.name) };
    return undefined;
  };

  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://x");
    const r = route(url.pathname);
    if (!r) return send(res, { status: 404, body: failure(404, "NotFound", "the server could not find the requested resource") });
    const refused = gate(req, r, url.searchParams);
    if (refused) return send(res, refused);
    const q = url.searchParams;
    const fieldValidation = q.get("fieldValidation") ?? "Warn";
    try {
      if (r.sub === "exec") return send(res, { status: 400, body: failure(400, "BadRequest", "Upgrade request required") });
      if (r.sub) return send(res, { status: 405, body: failure(405, "MethodNotAllowed", "the server does not allow this method on the requested resource") });
      if (req.method === "GET" && r.name) return send(res, crud.get(r.def, r.ns ?? "", r.name));
      if (req.method === "GET") {
        const selector = parseSelectors(q.get("labelSelector"), q.get("fieldSelector"));
        if (["true", "1"].includes(q.get("watch") ?? ""))
          return serveWatch({ store, def: r.def, namespace: r.ns, selector, query: q, res, open, onOpen, bookmarkMs: 250 });
        return send(res, crud.list(r.def, r.ns, selector));
      }
      const raw = await readBody(req);
      const body = raw ? JSON.parse(raw) : undefined;
      if (req.method === "POST" && !r.name && r.ns) return send(res, crud.create(r.def, r.ns, body, fieldValidation));
      if (req.method === "PUT" && r.name && r.ns) return send(res, crud.update(r.def, r.ns, r.name, body, fieldValidation));
      if (req.method === "PATCH" && r.name && r.ns) return send(res, crud.patch(r.def, r.ns, r.name, req.headers["content-type"] ?? "", body, fieldValidation));
      if (req.method === "DELETE" && r.name && r.ns)
        return send(res, crud.delete(r.def, r.ns, r.name, q.get("propagationPolicy") ?? body?.propagationPolicy, body?.preconditions));
      send(res, { status: 405, body: failure(405, "MethodNotAllowed", "the server does not allow this method on the requested resource") });
    } catch (err) {
      if (err instanceof SelectorError || err instanceof SyntaxError) return send(res, { status: 400, body: failure(400, "BadRequest", err.message) });
      send(res, { status: 500, body: failure(500, "InternalError", (err as Error).message) });
    }
  };

  const server: Server = tls ? createHttps(selfSignedCert(), (req, res) => void handler(req, res)) : createHttp((req, res) => void handler(req, res));
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? "/", "http://x");
    const r = route(url.pathname);
    if (r?.sub !== "exec" || !r.ns || !r.name)
      return refuseUpgrade(socket, { status: 404, body: failure(404, "NotFound", "the server could not find the requested resource") });
    const refused = gate(req, r, url.searchParams);
    if (refused) return refuseUpgrade(socket, refused);
    const pod = store.get("pods", r.ns, r.name);
    const dir = controller.pods.dirOf(r.ns, r.name);
    if (!pod) return refuseUpgrade(socket, { status: 404, body: notFound(r.def, r.name) });
    if (!dir || pod.status?.phase !== "Running")
      return refuseUpgrade(socket, {
        status: 400,
        body: failure(400, "BadRequest", `cannot exec into a container in a completed pod; current phase is ${pod.status?.phase}`),
      });
    const containers = ((pod.spec?.containers ?? []) as { name: string }[]).map((c) => c.name);
    const container = url.searchParams.get("container");
    if (container && !containers.includes(container))
      return refuseUpgrade(socket, { status: 400, body: failure(400, "BadRequest", `container ${container} is not valid for pod ${r.name}`) });
    if (!container && containers.length > 1)
      return refuseUpgrade(socket, {
        status: 400,
        body: failure(400, "BadRequest", `a container name must be specified for pod ${r.name}, choose one of: [${containers.join(" ")}]`),
      });
    exec.upgrade(req, socket, head, url.searchParams, { dir, containers });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `${tls ? "https" : "http"}://127.0.0.1:${port}`;
  const ca = tls ? selfSignedCert().cert : undefined;
  controller.start();

  return {
    url,
    token,
    ca,
    store,
    controller,
    requests,
    mark: () => requests.length,
    since: (m) => requests.slice(m),
    kubeconfig: (path, o = {}) => writeKubeconfig(path, { server: url, token, ca, ...o }),
    forbid(verb, resource, namespace) {
      const rule = { verb, resource, namespace };
      rules.push(rule);
      return () => void rules.splice(rules.indexOf(rule), 1);
    },
    waitForWatch(pred = () => true) {
      const now = [...open].find(pred);
      if (now) return Promise.resolve(now);
      return new Promise((resolve) => waiters.push({ pred, resolve }));
    },
    openWatches: () => [...open],
    interruptWatches() {
      for (const w of [...open]) w.interrupt();
    },
    expireWatches() {
      store.compact();
      for (const w of [...open]) w.expire();
    },
    failNext: (resource, reason, message) => controller.failNext(resource, reason, message),
    apply(resource, ns, name, spec) {
      const def = resourceFor("extensions.agents.x-k8s.io", "v1beta1", resource) as ResourceDef;
      const cur = store.get(resource, ns, name);
      const obj = { apiVersion: "extensions.agents.x-k8s.io/v1beta1", kind: def.kind, spec };
      if (cur) store.update(resource, { ...cur, spec });
      else store.create(resource, { ...obj, metadata: { name, namespace: ns } });
    },
    addNamespace: (ns) => void namespaces.add(ns),
    async close() {
      controller.stop();
      exec.close();
      for (const w of [...open]) w.interrupt();
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(podRoot, { recursive: true, force: true });
    },
  };
}
