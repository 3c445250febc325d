/** The store: the interface (./types.ts), the embedded default driver and the shared one. */
export type * from "./types.js";
export { publicRecord } from "./rows.js";
export { openStore } from "./open.js";
export { SqliteStore } from "./sqlite.js";
export { PostgresStore } from "./postgres.js";
