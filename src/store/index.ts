/** The store: the interface (./types.ts) and the embedded default driver. */
export type * from "./types.js";
export { publicRecord } from "./rows.js";
export { openStore } from "./open.js";
export { SqliteStore } from "./sqlite.js";
