/**
 * Library entry: embed the broker, or write an extension (docs/extension-sdk.md;
 * examples/scratch-extension is a package written against this entry alone).
 */
export { type Broker, type BrokerOptions, type CreateRequest, createBroker } from "./broker.js";
export { ERROR_CATALOG, type ErrorCode, SandboxerError } from "./errors.js";
export {
  type BackendResource,
  type Capabilities,
  defineExtension,
  type ExecIo,
  type ExecOptions,
  type ExecResult,
  type Extension,
  type ExtensionContext,
  type ExtensionDefinition,
  type FileOps,
  type HostKind,
  type ListContext,
  type ListWhere,
  type Placement,
  SERVICE_NAME_RE,
} from "./extensions/define.js";
export {
  type CreateRequest as VendorCreateRequest,
  defineMeteredExtension,
  lazy,
  type MeteredDefinition,
  type RemoteSandbox,
  remainingSeconds,
  type VendorContext,
} from "./extensions/saas/metered.js";
export { envMs, requireEnv, vendorError } from "./extensions/saas/vendor.js";
export { EXEC_CAPTURE_LIMIT, ExecOutput, execResult, spawnExec } from "./extensions/exec-process.js";
/** The zod an extension's `inputs` and `handle` schemas are written with (one copy with the broker's). */
export { z } from "zod";
export type { Sandbox, SandboxEvent, SandboxState } from "./types.js";
export { type RunningServer, type ServeOptions, startServer } from "./api/server.js";
export { type ClientOptions, SandboxerClient } from "./client/index.js";
