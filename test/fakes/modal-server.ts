/**
 * A local gRPC server speaking the part of Modal's control-plane API
 * (`modal.client.ModalClient`, modal_proto/api.proto) that the official
 * `modal` JS SDK uses for sandboxes. Message layouts (field numbers and
 * types) follow the published proto as compiled into the SDK; only the fields
 * the SDK reads or we assert on are declared, the rest are skipped on the
 * wire as protobuf allows.
 *
 * Sandboxes are Modal's v1 API (the SDK's default for GPU sandboxes; ext.modal
 * pins it). Auth as Modal does it: `x-modal-token-id` / `x-modal-token-secret` metadata
 * on every call; AuthTokenGet returns a JWT (with `exp`) that later calls carry
 * as `x-modal-auth-token`. Errors are gRPC statuses (UNAUTHENTICATED,
 * RESOURCE_EXHAUSTED, INTERNAL, NOT_FOUND), injected per method for tests.
 *
 * `sandbox.exec` goes through the task's command router, which this server
 * also serves (test/fakes/modal-exec.ts): TaskGetCommandRouterAccess hands out
 * a JWT and `https://127.0.0.1:<port>` (the SDK speaks plaintext to a router
 * when its server URL is localhost). Each sandbox runs a small VM
 * (test/fakes/vm.ts), ended with its processes at terminate and at close.
 */
import { randomBytes } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import protobuf from "protobufjs";
import { faultQueue } from "./faults.js";
import { addCommandRouter, type ModalExec, type RouterMethod } from "./modal-exec.js";
import { type FakeVm, startVm } from "./vm.js";

const PROTO = `
syntax = "proto3";
package modal.client;
message Empty {}
message AuthTokenGetResponse { string token = 1; }
message AppGetOrCreateRequest { string app_name = 1; string environment_name = 2; int32 object_creation_type = 3; }
message AppGetOrCreateResponse { string app_id = 1; }
message GenericResult { int32 status = 1; string exception = 2; int32 exitcode = 3; }
message ImageGetOrCreateRequest { string app_id = 4; string builder_version = 9; }
message ImageGetOrCreateResponse { string image_id = 1; GenericResult result = 2; }
message GPUConfig { int32 type = 1; uint32 count = 2; string gpu_type = 4; }
message Resources { uint32 memory_mb = 2; uint32 milli_cpu = 3; GPUConfig gpu_config = 4; }
message SandboxDef { string image_id = 3; Resources resources = 5; uint32 timeout_secs = 7; }
message SandboxTag { string tag_name = 1; string tag_value = 2; }
message SandboxCreateRequest { string app_id = 1; SandboxDef definition = 2; string environment_name = 3; repeated SandboxTag tags = 4; }
message SandboxHandleMetadata { GenericResult result = 1; string app_id = 2; }
message SandboxCreateResponse { string sandbox_id = 1; SandboxHandleMetadata metadata = 2; }
message SandboxGetTaskIdRequest { string sandbox_id = 1; float timeout = 2; bool wait_until_ready = 3; }
message SandboxGetTaskIdResponse { string task_id = 1; GenericResult task_result = 2; }
message SandboxTerminateRequest { string sandbox_id = 1; }
message SandboxTerminateResponse { GenericResult existing_result = 1; }
message SandboxWaitRequest { string sandbox_id = 1; float timeout = 2; }
message SandboxWaitResponse { GenericResult result = 1; SandboxHandleMetadata metadata = 2; }
message SandboxListRequest { string app_id = 1; double before_timestamp = 2; string environment_name = 3; bool include_finished = 4; repeated SandboxTag tags = 5; }
message SandboxInfo { string id = 1; double created_at = 3; string app_id = 5; repeated SandboxTag tags = 6; uint32 timeout_secs = 11; }
message SandboxListResponse { repeated SandboxInfo sandboxes = 1; }
message SandboxTagsGetRequest { string sandbox_id = 1; }
message SandboxTagsGetResponse { repeated SandboxTag tags = 1; }
message SandboxTagsSetRequest { string environment_name = 1; string sandbox_id = 2; repeated SandboxTag tags = 3; }
message TaskGetCommandRouterAccessRequest { string task_id = 1; }
message TaskGetCommandRouterAccessResponse { string jwt = 1; string url = 2; }
`;

export interface ModalSandbox {
  id: string;
  appId: string;
  imageId: string;
  tags: Record<string, string>;
  timeoutSecs: number;
  gpu: { type: number; count: number; gpuType: string } | null;
  createdAt: number;
  terminated: boolean;
  /** The sandbox's VM (test/fakes/vm.ts, workdir /root), where exec'd commands run; ended at terminate. */
  vm: Promise<FakeVm>;
}

export type ModalMethod =
  | "AuthTokenGet"
  | "AppGetOrCreate"
  | "ImageGetOrCreate"
  | "SandboxCreate"
  | "SandboxGetTaskId"
  | "SandboxTerminate"
  | "SandboxWait"
  | "SandboxList"
  | "SandboxTagsGet"
  | "SandboxTagsSet"
  | "TaskGetCommandRouterAccess"
  | RouterMethod;
export type ModalFault = { code: grpc.status; details?: string } | { slowMs: number };

export interface ModalFake {
  url: string;
  tokenId: string;
  tokenSecret: string;
  sandboxes: Map<string, ModalSandbox>;
  calls: { method: string; tokenId: string | undefined; authToken: string | undefined }[];
  /** Calls to the command router (authorized by its JWT, not by the tokens). */
  routerCalls: { method: string }[];
  execs: Map<string, ModalExec>;
  fail(method: ModalMethod, fault: ModalFault, times?: number): void;
  clearFaults(): void;
  close(): Promise<void>;
}

const root = protobuf.parse(PROTO, { keepCase: false }).root;
const T = (name: string) => root.lookupType(`modal.client.${name}`);

const METHODS: Record<Exclude<ModalMethod, RouterMethod>, [string, string]> = {
  AuthTokenGet: ["Empty", "AuthTokenGetResponse"],
  AppGetOrCreate: ["AppGetOrCreateRequest", "AppGetOrCreateResponse"],
  ImageGetOrCreate: ["ImageGetOrCreateRequest", "ImageGetOrCreateResponse"],
  SandboxCreate: ["SandboxCreateRequest", "SandboxCreateResponse"],
  SandboxGetTaskId: ["SandboxGetTaskIdRequest", "SandboxGetTaskIdResponse"],
  SandboxTerminate: ["SandboxTerminateRequest", "SandboxTerminateResponse"],
  SandboxWait: ["SandboxWaitRequest", "SandboxWaitResponse"],
  SandboxList: ["SandboxListRequest", "SandboxListResponse"],
  SandboxTagsGet: ["SandboxTagsGetRequest", "SandboxTagsGetResponse"],
  SandboxTagsSet: ["SandboxTagsSetRequest", "Empty"],
  TaskGetCommandRouterAccess: ["TaskGetCommandRouterAccessRequest", "TaskGetCommandRouterAccessResponse"],
};

type Req = Record<string, unknown>;
const tagsOf = (list: unknown) => Object.fromEntries(((list as { tagName: string; tagValue: string }[]) ?? []).map((t) => [t.tagName, t.tagValue]));
const tagList = (tags: Record<string, string>) => Object.entries(tags).map(([tagName, tagValue]) => ({ tagName, tagValue }));
const GENERIC_SUCCESS = 1;
const GENERIC_TERMINATED = 3;

export async function startModalFake(): Promise<ModalFake> {
  const tokenId = `ak-${randomBytes(8).toString("hex")}`;
  const tokenSecret = `as-${randomBytes(12).toString("hex")}`;
  const sandboxes = new Map<string, ModalSandbox>();
  const apps = new Map<string, string>();
  const faults = faultQueue<ModalMethod, ModalFault>();
  const calls: ModalFake["calls"] = [];
  const routerCalls: ModalFake["routerCalls"] = [];
  const routerTokens = new Set<string>();
  let port = 0;
  const taskOf = (sb: ModalSandbox) => `ta-${sb.id.slice(3, 15)}`;
  const liveByTask = (taskId: string) => [...sandboxes.values()].find((s) => !s.terminated && taskOf(s) === taskId);

  const jwt = () => {
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
    return `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ exp: Math.floor(Date.now() / 1000) + 3600 })}.${randomBytes(8).toString("base64url")}`;
  };

  const server = new grpc.Server();
  const router = addCommandRouter(server, {
    vmOfTask: (taskId) => liveByTask(taskId)?.vm,
    tokenOk: (t) => routerTokens.has(t),
    fault: (method) => faults.take(method),
    calls: routerCalls,
  });
  const end = (sb: ModalSandbox) => {
    sb.terminated = true;
    router.kill(taskOf(sb));
    sb.vm.then((vm) => vm.kill()).catch(() => {});
  };

  const handlers: Record<Exclude<ModalMethod, RouterMethod>, (req: Req) => Req> = {
    AuthTokenGet: () => ({ token: jwt() }),
    AppGetOrCreate: (r) => {
      const name = String(r.appName);
      if (!apps.has(name)) apps.set(name, `ap-${randomBytes(8).toString("hex")}`);
      return { appId: apps.get(name) };
    },
    // Already built: the SDK takes `result.status` and does not stream the build log.
    ImageGetOrCreate: () => ({ imageId: `im-${randomBytes(8).toString("hex")}`, result: { status: GENERIC_SUCCESS } }),
    SandboxCreate: (r) => {
      const def = (r.definition ?? {}) as {
        imageId?: string;
        timeoutSecs?: number;
        resources?: { gpuConfig?: { type?: number; count?: number; gpuType?: string } };
      };
      const g = def.resources?.gpuConfig;
      const sb: ModalSandbox = {
        // Modal's v1 sandbox ids: "sb-" and 22 base62 characters (the SDK tells v1 from v2 by this shape).
        id: `sb-${base62(22)}`,
        appId: String(r.appId),
        imageId: def.imageId ?? "",
        tags: tagsOf(r.tags),
        timeoutSecs: def.timeoutSecs ?? 300,
        gpu: g && (g.count || g.gpuType) ? { type: g.type ?? 0, count: g.count ?? 0, gpuType: g.gpuType ?? "" } : null,
        createdAt: Date.now() / 1000,
        terminated: false,
        vm: startVm("modal-sb", "/root").catch((err: unknown) => {
          throw err;
        }),
      };
      sandboxes.set(sb.id, sb);
      return { sandboxId: sb.id, metadata: { appId: sb.appId } };
    },
    SandboxGetTaskId: (r) => {
      const sb = sandboxes.get(String(r.sandboxId));
      if (!sb) throw notFound(String(r.sandboxId));
      return sb.terminated ? { taskResult: { status: GENERIC_TERMINATED } } : { taskId: taskOf(sb) };
    },
    SandboxTerminate: (r) => {
      const sb = sandboxes.get(String(r.sandboxId));
      if (!sb) throw notFound(String(r.sandboxId));
      end(sb);
      return { existingResult: { status: GENERIC_TERMINATED } };
    },
    SandboxWait: (r) => {
      const sb = sandboxes.get(String(r.sandboxId));
      if (!sb) throw notFound(String(r.sandboxId));
      return { result: sb.terminated ? { status: GENERIC_TERMINATED, exitcode: 137 } : { status: 0 }, metadata: { appId: sb.appId } };
    },
    SandboxList: (r) => {
      const want = tagsOf(r.tags);
      const before = Number(r.beforeTimestamp) || Number.POSITIVE_INFINITY;
      const items = [...sandboxes.values()]
        .filter((s) => !s.terminated && s.createdAt < before && Object.entries(want).every(([k, v]) => s.tags[k] === v))
        .sort((a, b) => b.createdAt - a.createdAt);
      return { sandboxes: items.map((s) => ({ id: s.id, createdAt: s.createdAt, appId: s.appId, tags: tagList(s.tags), timeoutSecs: s.timeoutSecs })) };
    },
    SandboxTagsGet: (r) => {
      const sb = sandboxes.get(String(r.sandboxId));
      if (!sb) throw notFound(String(r.sandboxId));
      return { tags: tagList(sb.tags) };
    },
    SandboxTagsSet: (r) => {
      const sb = sandboxes.get(String(r.sandboxId));
      if (!sb) throw notFound(String(r.sandboxId));
      sb.tags = tagsOf(r.tags);
      return {};
    },
    TaskGetCommandRouterAccess: (r) => {
      if (!liveByTask(String(r.taskId))) throw notFound(`task ${String(r.taskId)}`);
      const token = jwt();
      routerTokens.add(token);
      return { jwt: token, url: `https://127.0.0.1:${port}` };
    },
  };

  const service: Record<string, grpc.MethodDefinition<Req, Req>> = {};
  const impl: grpc.UntypedServiceImplementation = {};
  for (const [method, [reqType, resType]] of Object.entries(METHODS) as [Exclude<ModalMethod, RouterMethod>, [string, string]][]) {
    const Req = T(reqType);
    const Res = T(resType);
    service[method] = {
      path: `/modal.client.ModalClient/${method}`,
      requestStream: false,
      responseStream: false,
      requestDeserialize: (b: Buffer) => Req.toObject(Req.decode(b), { defaults: false, longs: Number }),
      requestSerialize: (o: Req) => Buffer.from(Req.encode(Req.fromObject(o)).finish()),
      responseSerialize: (o: Req) => Buffer.from(Res.encode(Res.fromObject(o)).finish()),
      responseDeserialize: (b: Buffer) => Res.toObject(Res.decode(b)),
    };
    impl[method] = (call: grpc.ServerUnaryCall<Req, Req>, callback: grpc.sendUnaryData<Req>) => {
      const md = call.metadata;
      const id = md.get("x-modal-token-id")[0]?.toString();
      const secret = md.get("x-modal-token-secret")[0]?.toString();
      calls.push({ method, tokenId: id, authToken: md.get("x-modal-auth-token")[0]?.toString() });
      if (id !== tokenId || secret !== tokenSecret) return callback({ code: grpc.status.UNAUTHENTICATED, details: "Token ID or secret is invalid" });
      const fault = faults.take(method);
      if (fault && "code" in fault) return callback({ code: fault.code, details: fault.details ?? `injected ${grpc.status[fault.code]}` });
      try {
        const res = handlers[method](call.request);
        if (fault && "slowMs" in fault) setTimeout(() => callback(null, res), fault.slowMs);
        else callback(null, res);
      } catch (err) {
        callback(err as grpc.ServiceError);
      }
    };
  }
  server.addService(service as grpc.ServiceDefinition, impl);
  port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    url: `http://127.0.0.1:${port}`,
    tokenId,
    tokenSecret,
    sandboxes,
    calls,
    routerCalls,
    execs: router.execs,
    fail: (method, fault, times = 1) => faults.add(method, fault, times),
    clearFaults: () => faults.clear(),
    close: async () => {
      for (const sb of sandboxes.values()) end(sb);
      await new Promise<void>((r) => server.tryShutdown(() => r()));
      server.forceShutdown();
    },
  };
}

function base62(n: number): string {
  const abc = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  return Array.from(randomBytes(n), (b) => abc[b % 62]).join("");
}

function notFound(id: string): grpc.ServiceError {
  return Object.assign(new Error(`Sandbox ${id} not found`), {
    code: grpc.status.NOT_FOUND,
    details: `Sandbox ${id} not found`,
    metadata: new grpc.Metadata(),
  }) as grpc.ServiceError;
}
