/** Library entry: embed the broker, or write an extension. */
export { type Broker, type BrokerOptions, type CreateRequest, createBroker } from "./broker.js";
export { ERROR_CATALOG, type ErrorCode, SandboxerError } from "./errors.js";
export { defineExtension, type Extension, type ExtensionContext } from "./extensions/define.js";
export type { Sandbox, SandboxEvent, SandboxState } from "./types.js";
export { type RunningServer, type ServeOptions, startServer } from "./api/server.js";
export { type ClientOptions, SandboxerClient } from "./client/index.js";
